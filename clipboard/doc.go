// Package clipboard keeps the host's X11 clipboard and a viewer's clipboard in step over one
// mux stream (mux.KindClipboard): the viewer sets the host's CLIPBOARD selection (and,
// if asked, PRIMARY), and the host pushes every change of its CLIPBOARD to the viewer.
//
// The host side talks to X through the xclip program (Debian package xclip) rather than
// owning the selection itself: an X selection lives only as long as its owner answers
// SelectionRequest events, including the INCR protocol for large texts, and xclip already
// does this and stays behind after the viewer leaves, so a pasted text survives the session.
// Changes on the host are found by polling the selection and comparing a hash. Text only:
// the UTF8_STRING target.
package clipboard
