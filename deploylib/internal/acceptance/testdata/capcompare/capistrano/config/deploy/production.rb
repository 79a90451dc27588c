server "web1.acme.com", user: "deploy", roles: %w[app web], primary: true
server "web2.acme.com", user: "deploy", roles: %w[app web]
server "db1.acme.com", user: "deploy", roles: %w[db], port: 2222

set :branch, ENV.fetch("BRANCH", "main")
append :linked_files, "config/tls.key"
