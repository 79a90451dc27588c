server "qa.example.com", user: "deploy`id`", roles: %w{app web db}, primary: true, label: "it's \"q\" $(x)"
set :branch, "feature/$(evil)"
