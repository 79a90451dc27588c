server "staging.example.com", user: "deploy", roles: %w{app web db}, primary: true

set :branch, "develop"
set :rails_env, "staging"
set :keep_releases, 3
