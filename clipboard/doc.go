// Package clipboard keeps the host's clipboard and a viewer's clipboard in step over one mux
// stream (mux.KindClipboard): the viewer sets the host's clipboard, and the host pushes every
// change of it to the viewer. The host's clipboard is a Board: X11's CLIPBOARD selection (and,
// on a set, PRIMARY if asked) by default, or one Server.Open gives — the host's GNOME backend
// gives the GNOME clipboard through Mutter (screen/mutter), which reports its changes, so
// nothing polls.
//
// The host side talks to X through the xclip program (Debian package xclip) rather than
// owning the selection itself: an X selection lives only as long as its owner answers
// SelectionRequest events, including the INCR protocol for large texts, and xclip already
// does this and stays behind after the viewer leaves, so a pasted text survives the session.
// Changes on X11 are found by polling the selection and comparing a hash. Text only:
// the UTF8_STRING target.
package clipboard
