// Package auth has ready-made [server.Config] Authenticate hooks: signed
// session cookies ([Sessions]) and JSON Web Tokens ([JWT]: HS256, or RS256
// and ES256 with a public key file or a JWKS file or URL), and [Any] to
// accept several kinds of credentials, with or without an anonymous
// fallback.
//
// Each hook turns credentials into a [server.Identity]: the subject, when
// the credentials expire (the hub closes a connection then, with 4401, and
// the client refreshes and resumes), and the channel patterns the identity
// may subscribe to and publish on. Per-channel decisions are the hub's
// (server.Config.Authorize, or Identity.Allows).
//
// Where tokens travel ([TokenSources]): the Authorization header (Bearer),
// the WebSocket subprotocol list (a browser cannot set headers on a
// WebSocket: it offers ["duet.v1", "duet.bearer.<base64url token>"], and
// the server selects duet.v1), a cookie, and — off by default, for a native
// EventSource only — a query parameter.
//
// It is not an identity provider: it issues session cookies for an
// application that has already checked who the user is, and verifies JWTs
// that someone else issued.
package auth
