namespace :notify do
  desc "Tell the team"
  task :slack do
    run_locally do
      execute :curl, "-s", "https://hooks.slack.com/x"
    end
    info "deployed #{fetch(:application)} to #{fetch(:stage)}"
  end

  task :hosts do
    on roles(:all) do |host|
      site = host.properties.fetch(:nginx_site)
      uptime = capture(:uptime)
      info "#{host.hostname}: #{uptime} #{site}"
      upload! StringIO.new("site=#{site}\n"), "#{shared_path}/site.env"
    end
  end
end
