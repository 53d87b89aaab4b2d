// Package files copies files between a viewer and a host over tunnel streams.
//
// The host side (Server) confines every path to one directory with os.Root, so ".." and
// symlinks that lead out of it are refused by the kernel-backed resolver rather than by string
// checks alone, and it writes uploads to a temporary file that is renamed over the final name
// only after every byte arrived and the SHA-256 trailer matched: a transfer cut halfway never
// leaves a file under the final name. The viewer side (Put, Get, List) does the same for
// downloads. The wire protocol is described byte by byte in docs/files.md.
package files
