# Servers with roles and custom properties.
server "web1.example.com", user: "deploy", roles: %w{app web}, primary: true, nginx_site: "shop"
server "web2.example.com", user: "deploy", roles: %w{app web}, nginx_site: "shop"
server "db1.example.com", user: "deploy", port: 2222, roles: %w{db}, no_release: false

role :worker, %w{deploy@worker1.example.com deploy@worker2.example.com:2200}, queue: "default"

append :linked_dirs, "storage"
set :ssh_options, { keys: ["~/.ssh/prod_ed25519"], user_known_hosts_file: "config/known_hosts" }
