package main

import (
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/server/auth"
)

// authFlags are the command line's authentication and limit options. With
// none of the -jwt-* key flags the server is open: every request is
// anonymous and may use every channel, as the demo expects.
type authFlags struct {
	hs256SecretFile, publicKeyFile, jwks string
	audience, issuer                     string
	cookie, queryParam                   string
	subscribe, publish                   string
	anonSubscribe, anonPublish           string
	corsOrigins                          string
	publishRate, identityPublishRate     float64
	leeway, devTokenTTL                  time.Duration
	devTokensPublic                      bool
}

func (f *authFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.hs256SecretFile, "jwt-hs256-secret-file", "", "require JWTs signed with HS256 by the secret in this file (32 bytes or more)")
	fs.StringVar(&f.publicKeyFile, "jwt-public-key", "", "require JWTs signed (RS256 or ES256) by the private key of this PEM public key")
	fs.StringVar(&f.jwks, "jwt-jwks", "", "require JWTs signed (RS256 or ES256) by a key of this JWKS: a file, or an http(s) URL fetched and cached")
	fs.StringVar(&f.audience, "jwt-aud", "", "the audience (aud) tokens must be issued for; required with a -jwt-* key")
	fs.StringVar(&f.issuer, "jwt-iss", "", "the issuer (iss) tokens must name (default: not checked)")
	fs.DurationVar(&f.leeway, "jwt-leeway", 5*time.Second, "clock skew tolerated on exp, nbf and iat (0: none)")
	fs.StringVar(&f.cookie, "jwt-cookie", "", "also read the token from this cookie")
	fs.StringVar(&f.queryParam, "jwt-query-param", "", "also read the token from this query parameter of SSE requests, for native EventSource (default off: URLs end up in logs)")
	fs.StringVar(&f.subscribe, "jwt-subscribe", "", "channel patterns a token without a \"subscribe\" claim may subscribe to (comma-separated, e.g. public:*,user:{sub}; {sub} is the token's subject; default: none)")
	fs.StringVar(&f.publish, "jwt-publish", "", "channel patterns a token without a \"publish\" claim may publish on (default: none)")
	fs.StringVar(&f.anonSubscribe, "anonymous-subscribe", "", "with a -jwt-* key: channel patterns requests without a token may subscribe to (default: such requests are refused)")
	fs.StringVar(&f.anonPublish, "anonymous-publish", "", "with a -jwt-* key: channel patterns requests without a token may publish on")
	fs.StringVar(&f.corsOrigins, "cors-origins", "", "origins (comma-separated, e.g. https://app.example.com) whose pages may use /rt/sse and /rt/publish cross-origin (default: none)")
	fs.Float64Var(&f.publishRate, "publish-rate", 0, "publishes per second per WebSocket connection (default 200; negative: no limit)")
	fs.Float64Var(&f.identityPublishRate, "identity-publish-rate", 0, "publishes per second per identity, or per IP when anonymous (default 1000; negative: no limit)")
	fs.DurationVar(&f.devTokenTTL, "dev-tokens", 0, "FOR TESTS ONLY, with -jwt-hs256-secret-file: serve GET /dev/token?sub=NAME (a token) and GET /dev/session?sub=NAME (a session cookie) to loopback clients, for anyone, living this long (refused with a non-loopback -addr unless -dev-tokens-public)")
	fs.BoolVar(&f.devTokensPublic, "dev-tokens-public", false, "FOR TESTS ONLY: serve -dev-tokens to every client, and allow it with a non-loopback -addr")
}

func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// apply sets cfg's authentication and limits for a server listening on
// addr, and returns the handler of the test-only token endpoint, if asked
// for.
func (f *authFlags) apply(cfg *server.Config, addr string, log *slog.Logger) (devTokens http.Handler, err error) {
	cfg.CORSOrigins = splitList(f.corsOrigins)
	cfg.PublishRate = f.publishRate
	cfg.IdentityPublishRate = f.identityPublishRate
	if f.leeway == 0 {
		f.leeway = -1 // JWTConfig: zero means the default, negative none
	}
	jcfg := auth.JWTConfig{
		Audience:         f.audience,
		Issuer:           f.issuer,
		Leeway:           f.leeway,
		Tokens:           auth.TokenSources{Cookie: f.cookie, QueryParam: f.queryParam},
		DefaultSubscribe: splitList(f.subscribe),
		DefaultPublish:   splitList(f.publish),
		Logger:           log,
	}
	keys := 0
	for _, k := range []string{f.hs256SecretFile, f.publicKeyFile, f.jwks} {
		if k != "" {
			keys++
		}
	}
	if keys > 1 {
		return nil, errors.New("give one JWT key: -jwt-hs256-secret-file, -jwt-public-key or -jwt-jwks")
	}
	switch {
	case f.hs256SecretFile != "":
		secret, err := os.ReadFile(f.hs256SecretFile)
		if err != nil {
			return nil, err
		}
		jcfg.HS256Secret = []byte(strings.TrimSpace(string(secret)))
	case f.publicKeyFile != "":
		jcfg.PublicKeyFile = f.publicKeyFile
	case strings.HasPrefix(f.jwks, "http://"), strings.HasPrefix(f.jwks, "https://"):
		jcfg.JWKSURL = f.jwks
	case f.jwks != "":
		jcfg.JWKSFile = f.jwks
	default:
		if f.devTokenTTL > 0 {
			return nil, errors.New("-dev-tokens needs -jwt-hs256-secret-file")
		}
		return nil, nil // open: anonymous, every channel
	}
	if f.devTokenTTL > 0 && jcfg.HS256Secret == nil {
		return nil, errors.New("-dev-tokens needs -jwt-hs256-secret-file: it signs its tokens with that secret")
	}
	for flag, p := range map[string]string{"jwt-subscribe": f.subscribe, "jwt-publish": f.publish, "anonymous-subscribe": f.anonSubscribe, "anonymous-publish": f.anonPublish} {
		if err := checkPatterns(flag, splitList(p)); err != nil {
			return nil, err
		}
	}
	j, err := auth.NewJWT(jcfg)
	if err != nil {
		return nil, err
	}
	cfg.Authorize = (&grants{log: log}).authorize
	hooks := []func(*http.Request) (server.Identity, error){j.Authenticate}
	if f.devTokenTTL > 0 {
		var sessions func(*http.Request) (server.Identity, error)
		if devTokens, sessions, err = f.devTokens(jcfg.HS256Secret, addr, log); err != nil {
			return nil, err
		}
		hooks = append(hooks, sessions)
	}
	if f.anonSubscribe != "" || f.anonPublish != "" {
		hooks = append(hooks, auth.AllowAnonymous(splitList(f.anonSubscribe), splitList(f.anonPublish)))
	}
	cfg.Authenticate = auth.Any(hooks...)
	log.Info("duet: JWT authentication required", "aud", f.audience,
		"-jwt-subscribe", f.subscribe, "-jwt-publish", f.publish, "-anonymous-subscribe", f.anonSubscribe, "-anonymous-publish", f.anonPublish)
	if f.subscribe == "" || f.publish == "" {
		log.Info("duet: tokens without a \"subscribe\" or \"publish\" claim get no channels for it; -jwt-subscribe and -jwt-publish grant them channel patterns")
	}
	return devTokens, nil
}
