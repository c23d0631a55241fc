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
//
// A test that needs an active-mode download through ftpxdp:
//
//	l := lab.New(t, lab.ClientGateway, lab.Options{Prefix: "ftpxdp-mytest-"})
//	content := lab.NewContent(t, 64<<10)
//	srv, err := lab.StartServer(t, l.Server, lab.VSFTPD, content, lab.ServerOptions{})
//	...
//	g, err := l.Enforce(t, lab.FTPXDP, lab.PolicyOptions{Bin: lab.BuildDaemon(t)})
//	...
//	r := lab.Fetch(ctx, l.Client, content, lab.Transfer{
//		Client: lab.LFTP, Mode: lab.Active, Dir: t.TempDir(),
//		Server: netip.AddrPortFrom(l.ServerAddr(lab.IPv4), srv.Port),
//	})
//	// r.Err is nil when the listing and the file's SHA-256 were right;
//	// g.Daemon.Counters() and g.Daemon.Pinholes() read the daemon's state.
package lab
