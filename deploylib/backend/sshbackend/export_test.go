package sshbackend

// SessionsOpened returns how many SSH sessions c has opened so far: for
// commands, the command shell, SFTP and signals.
func SessionsOpened(c *Conn) int64 { return c.sessionsOpened.Load() }

// WithTestHook returns cfg with hook called at the command shell's events:
// "shell-opening" before Dial's opening of the shell, "shell-exec" before
// a shell session's exec request (an error is the server's refusal),
// "shell-opened" once Dial's opening is done, and "shell-wait" when a Run
// starts waiting for that opening.
func WithTestHook(cfg Config, hook func(event string) error) Config {
	cfg.testHook = hook
	return cfg
}
