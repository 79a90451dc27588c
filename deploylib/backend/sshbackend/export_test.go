package sshbackend

// SessionsOpened returns how many SSH sessions c has opened so far: for
// commands, the command shell, SFTP and signals.
func SessionsOpened(c *Conn) int64 { return c.sessionsOpened.Load() }
