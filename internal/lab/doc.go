// Package lab builds throw-away FTP networks in network namespaces for the
// interoperability, capture and demo tests: a client, an optional gateway
// and a server namespace joined by veth pairs with private IPv4 and IPv6
// (ULA) addresses; real FTP servers (vsftpd, proftpd, pure-ftpd) started
// in the server namespace; real clients (lftp, curl, Python ftplib, the
// classic ftp client) run in the client namespace; and the gateway's
// policy: nothing, a stateless default-deny nftables rule (the IOS
// "established" ACL), or the ftpxdp daemon.
//
// Everything a Lab starts is stopped by PID and every namespace deleted in
// t.Cleanup. `make deps-lab` installs the servers and clients.
package lab
