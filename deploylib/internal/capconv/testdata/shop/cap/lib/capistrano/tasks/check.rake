namespace :check do
  desc "Check that the environment file exists"
  task :env do
    on roles(:app) do |host|
      unless test("[ -f #{shared_path}/config/database.yml ]")
        error "database.yml is missing on #{host.hostname}"
        execute :false
      end
    end
  end
end
