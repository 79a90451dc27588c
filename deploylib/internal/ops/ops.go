// Package ops holds the operator tools, the mage targets that look at a
// stage or act on it without deploying: doctor (Diagnose), releases
// (ShowReleases, ListReleases), run and ssh (RunAdHoc, OpenShell), logs
// (FollowLog), config (ShowConfig) and download (DownloadFiles). They run
// on an engine.Session, the engine's seam for them; package deploylib
// presents them to teams.
package ops

import "github.com/capstan-deploy/capstan/deploylib/internal/engine"

// The methods of engine.Deployment of the same names run these.
func init() {
	engine.InstallTools(engine.Tools{
		Diagnose: Diagnose, ShowReleases: ShowReleases, ShowConfig: ShowConfig,
		RunAdHoc: RunAdHoc, OpenShell: OpenShell, FollowLog: FollowLog, DownloadFiles: DownloadFiles,
	})
}
