// Package tempfork holds upstream packages that deskport carries with patches, each under the
// project's own import path so that `go install` and other modules importing deskport need no
// replace directive (as tailscale's tempfork does).
//
// Each fork is a directory (tempfork/webrtc, ...) made by a script (tempfork/update.sh NAME)
// from the upstream release listed in tempfork/forks.txt plus the patches in
// tempfork/patches/NAME, applied in name order. The test in this package runs the script into a temporary directory and
// fails if the committed copy differs, so nobody edits a fork by hand: change a patch, or add
// one, and run the script.
package tempfork
