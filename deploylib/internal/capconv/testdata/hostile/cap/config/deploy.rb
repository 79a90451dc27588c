# Hostile input: every string below must come out as one correctly quoted
# Go string, and no value may reach the remote shell beyond what the Ruby did.
set :application, "evil\"app`id`"
set :repo_url, 'git@example.com:acme/it\'s "quoted".git'
set :deploy_to, "/srv/$(rm -rf ~)/#{fetch(:application)}"
set :motd, "line one\nline two\t\"tab\" \\ back`slash` $(whoami) ${HOME} */ // \u2028 end"
set :note, 'single #{not_interpolated} \n stays'
set :weird_heredoc, <<~EOS
  first "line" with `ticks`
  second $(line) */
EOS

namespace :evil do
  desc "Quotes \"everywhere\" */ and `ticks`"
  task :quotes do
    on roles(:app) do
      within release_path do
        execute :echo, "it's \"quoted\" $(touch /tmp/pwned) `id` ; rm -rf / #"
        execute :mkdir, "-p", "dir with spaces/$(id)"
        execute "echo raw line $(date) > raw.txt"
        execute "printf '%s' #{fetch(:motd)} > motd.txt"
        execute :echo, fetch(:note), "*/"
      end
    end
  end
end

after "deploy:updated", "evil:quotes"
