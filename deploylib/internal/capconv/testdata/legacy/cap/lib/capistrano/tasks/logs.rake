namespace :logs do
  desc 'Tail the application log'
  task :tail do
    on roles(:app) do
      execute "tail -n 100 #{shared_path}/log/production.log"
    end
  end
end
