set :application, 'blog'
set :repo_url, 'https://github.com/acme/blog.git'
set :branch, ENV['BRANCH'] || 'master'
set :linked_files, fetch(:linked_files, []).push('config/secrets.yml', '.env')
set :linked_dirs, fetch(:linked_dirs, []).push('log', 'uploads')
set :rbenv_ruby, '3.2.2'
set :default_env, { path: "/opt/blog/bin:$PATH", 'NODE_ENV' => 'production' }
set :api_token, ENV['BLOG_API_TOKEN']
set :app_port, 3000
set :workers, [:web, :jobs]
set :database_url, -> { ENV.fetch("DATABASE_URL") }
set :build_host, -> { `hostname`.strip }

namespace :deploy do
  desc 'Upload the robots file'
  task :robots do
    on roles(:web) do
      upload! 'config/robots.txt', "#{release_path}/public/robots.txt"
    end
  end

  task :warm => [:robots] do
    on roles(:web), in: :groups, limit: 2, wait: 1.5 do |host|
      if test(:curl, '-fsS', "http://localhost:#{fetch(:app_port)}/health")
        info "#{host} is warm"
      else
        warn "#{host} is cold"
      end
      as 'www-data' do
        execute :touch, "#{shared_path}/warm"
      end
      revision = capture(:cat, "#{release_path}/REVISION")
      with database_url: fetch(:database_url) do
        execute :echo, fetch(:build_host)
      end
      with api_token: fetch(:api_token) do
        execute :curl, '-fsS', '-X', 'POST', "https://example.com/deploys/#{revision}"
      end
    end
  end

  before :publishing, :announce do
    on roles(:all) do
      execute :logger, "deploying #{fetch(:application)} #{fetch(:branch)}"
    end
  end

  after 'deploy:published', 'deploy:warm'
  after :finishing, 'deploy:cleanup'
end

task :status do
  invoke 'deploy:robots'
  on roles(:db).first do
    execute :systemctl, :status, :postgresql, raise_on_non_zero_exit: false
  end
  run_locally do
    execute :git, :status
  end
  roles(:web).each do |h|
    puts h
  end
end
