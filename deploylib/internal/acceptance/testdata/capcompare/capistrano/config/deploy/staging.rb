# Three staging servers; the first also runs the migrations.
server "staging1.acme.internal", user: "deploy", roles: %w[app web db], primary: true
server "staging2.acme.internal", user: "deploy", roles: %w[app web]
server "staging3.acme.internal", user: "deploy", roles: %w[app web]

set :branch, ENV.fetch("BRANCH", "develop")
set :keep_releases, 3
set :systemd_unit, "orders-staging"
append :linked_dirs, "tmp/uploads"
