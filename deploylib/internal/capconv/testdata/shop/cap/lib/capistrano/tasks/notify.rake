namespace :notify do
  desc "Tell the team"
  task :slack do
    run_locally do
      execute :echo, "deployed", fetch(:application)
    end
    puts "deployed #{fetch(:application)} to #{fetch(:stage)}"
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
