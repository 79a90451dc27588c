role :app, %w{deploy@app1.example.com deploy@app2.example.com}
role :web, %w{deploy@app1.example.com deploy@app2.example.com}
role :db,  %w{deploy@db.example.com}, primary: true
set :ssh_options, { user: 'deploy', verify_host_key: :never, proxy: Net::SSH::Proxy::Command.new('ssh bastion -W %h:%p') }
