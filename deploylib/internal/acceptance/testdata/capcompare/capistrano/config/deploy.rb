# config valid for current version and patch releases of Capistrano
lock "~> 3.17"

set :application, "orders"
set :repo_url, "git@github.com:acme/orders.git"
set :deploy_to, "/srv/orders"
set :keep_releases, 5

set :linked_files, %w[config/orders.env]
set :linked_dirs, %w[log tmp/pids]

set :default_env, { "GOFLAGS" => "-mod=readonly" }
set :systemd_unit, "orders"

# The database URL holds a password: it comes from the deployer's environment.
set :database_url, -> { ENV.fetch("DATABASE_URL") }

namespace :deploy do
  desc "Build the service binary in the new release"
  task :build do
    on release_roles(:all) do
      within release_path do
        execute :go, "build", "-o", "bin/orders", "./cmd/orders"
      end
    end
  end

  desc "Run the database migrations on the primary db server"
  task :migrate do
    on primary(:db) do
      within release_path do
        with database_url: fetch(:database_url) do
          execute "./bin/orders", "migrate", "up"
        end
      end
    end
  end
end

after "deploy:updated", "deploy:build"
after "deploy:build", "deploy:migrate"
after "deploy:published", "app:restart"
