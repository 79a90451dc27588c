# config valid for current version and patch releases of Capistrano
lock "~> 3.17.2"

set :application, "shop"
set :repo_url, "git@github.com:acme/shop.git"

# Default branch is :master
ask :branch, "main"

set :deploy_to, "/srv/#{fetch(:application)}"

set :format, :airbrussh
set :log_level, :info
set :pty, true

append :linked_files, "config/database.yml", "config/master.key"
append :linked_dirs, "log", "tmp/pids", "tmp/cache", "public/system"

set :keep_releases, 5
set :rails_env, "production"
set :slack_channel, "#deploys"
set :db_password, ENV["DB_PASSWORD"]

set :ssh_options, {
  forward_agent: true,
  keys: %w(~/.ssh/deploy_ed25519),
  auth_methods: %w(publickey)
}

namespace :deploy do
  desc "Restart application"
  task :restart do
    on roles(:app), in: :sequence, wait: 5 do
      within release_path do
        execute :touch, "tmp/restart.txt"
      end
    end
  end

  desc "Run the database migrations"
  task :migrate do
    on primary(:db) do
      within release_path do
        with rails_env: fetch(:rails_env), database_password: fetch(:db_password) do
          execute :bundle, :exec, :rake, "db:migrate"
        end
      end
    end
  end

  after :publishing, :restart
  after :updated, :migrate
end

before "deploy:check", "check:env"
after "deploy:finished", "notify:slack"
after "deploy:published", "passenger:restart"
