namespace :app do
  desc "Restart the service, one server at a time"
  task :restart do
    on roles(:app), in: :sequence, wait: 5 do
      execute :sudo, :systemctl, :restart, fetch(:systemd_unit)
      execute "curl -fsS --retry 5 --retry-connrefused http://localhost:8080/healthz > /dev/null"
    end
  end
end
