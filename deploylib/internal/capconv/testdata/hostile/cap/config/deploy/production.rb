server "[2001:db8::1]:2222", user: "deploy", roles: %w{app}, primary: true
set :deploy_to, "/srv/prod"
