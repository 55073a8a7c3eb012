package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/duet-rt/duet/server"
	"github.com/duet-rt/duet/shared"
	"github.com/golang-jwt/jwt/v5"
)

// JWTConfig configures [JWT]. Exactly one key source is required:
// HS256Secret, PublicKeyFile, JWKSFile or JWKSURL.
type JWTConfig struct {
	// HS256Secret verifies HS256 tokens. At least 32 bytes.
	HS256Secret []byte
	// PublicKeyFile is a PEM file with one RSA or ECDSA P-256 public key
	// ("PUBLIC KEY", "RSA PUBLIC KEY" or a "CERTIFICATE"): RS256 or ES256
	// tokens signed by its private key.
	PublicKeyFile string
	// JWKSFile is a JSON Web Key Set file; JWKSURL one fetched over HTTP(S)
	// (kept for JWKSRefresh, loaded again sooner when a token names a key
	// it does not hold, but at most once per JWKSMinInterval). RSA and EC
	// P-256 signature keys are used. Loads run one at a time on their own
	// context: a request that triggers one and hangs up does not make it
	// fail.
	JWKSFile string
	JWKSURL  string
	// JWKSClient fetches JWKSURL. Defaults to a client with a 10s timeout.
	JWKSClient *http.Client
	// JWKSRefresh is how long a fetched key set is used before it is
	// loaded again (in the background: tokens are verified meanwhile with
	// the keys held). A key removed from the set is dropped at that load.
	// Defaults to 10m.
	JWKSRefresh time.Duration
	// JWKSMinInterval is the least time between two loads of the key set,
	// so that tokens naming unknown keys cannot make the server hammer the
	// JWKS endpoint. After a failed load the interval doubles with each
	// failure, up to 5 minutes, and each failure is logged. Defaults to 30s.
	JWKSMinInterval time.Duration
	// JWKSTimeout bounds one load of JWKSURL. Defaults to 10s.
	JWKSTimeout time.Duration
	// JWKSMaxAge is how long after the last successful load its keys are
	// trusted while the endpoint fails: past it, tokens are refused (4401)
	// until a load succeeds, so a key removed from the set is not trusted
	// forever by a server that cannot reach it. Defaults to 1h; never less
	// than JWKSRefresh.
	JWKSMaxAge time.Duration
	// Logger receives the JWKS endpoint's failures and recoveries.
	// Defaults to slog.Default().
	Logger *slog.Logger

	// Algorithms are the accepted "alg" values; any other is refused, "none"
	// always. Defaults to the key's: HS256 for a secret, RS256 for an RSA
	// key, ES256 for an EC key, both RS256 and ES256 for a JWKS. Each key is
	// used only with the algorithm of its type (no algorithm confusion).
	Algorithms []string
	// Audience must be among the token's "aud". Required: a token made for
	// another service must not work here.
	Audience string
	// Issuer, when set, must be the token's "iss".
	Issuer string
	// Leeway tolerates clock skew on "exp", "nbf" and "iat". Defaults to
	// 5s; negative means none.
	Leeway time.Duration

	// Tokens says where tokens travel besides the Authorization header and
	// the WebSocket subprotocol.
	Tokens TokenSources

	// SubscribeClaim and PublishClaim name the claims holding the channel
	// patterns (a JSON array of strings, or one space-separated string).
	// Default "subscribe" and "publish".
	SubscribeClaim, PublishClaim string
	// DefaultSubscribe and DefaultPublish are the patterns of a token
	// without those claims. Default none: such a token authenticates, but
	// may do nothing unless Config.Authorize says otherwise.
	DefaultSubscribe, DefaultPublish []string
}

// JWT verifies JSON Web Tokens. "exp" is required and, plus the leeway,
// becomes the identity's Expires; "nbf" and "iat" are checked when present; "aud" and,
// if configured, "iss" must match; the algorithm is pinned.
type JWT struct {
	cfg    JWTConfig
	parser *jwt.Parser
	secret []byte
	key    crypto.PublicKey // PublicKeyFile's
	jwks   *keySet
}

// NewJWT returns a JWT verifier, or an error for an incomplete or
// contradictory configuration or an unreadable key.
func NewJWT(cfg JWTConfig) (*JWT, error) {
	sources := 0
	for _, set := range []bool{cfg.HS256Secret != nil, cfg.PublicKeyFile != "", cfg.JWKSFile != "", cfg.JWKSURL != ""} {
		if set {
			sources++
		}
	}
	if sources != 1 {
		return nil, errors.New("duet/auth: JWTConfig needs exactly one of HS256Secret, PublicKeyFile, JWKSFile and JWKSURL")
	}
	if cfg.Audience == "" {
		return nil, errors.New("duet/auth: JWTConfig.Audience is required: tokens issued for another service must not be accepted")
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 5 * time.Second
	} else if cfg.Leeway < 0 {
		cfg.Leeway = 0
	}
	if cfg.SubscribeClaim == "" {
		cfg.SubscribeClaim = "subscribe"
	}
	if cfg.PublishClaim == "" {
		cfg.PublishClaim = "publish"
	}
	j := &JWT{cfg: cfg}
	var natural []string
	switch {
	case cfg.HS256Secret != nil:
		if len(cfg.HS256Secret) < 32 {
			return nil, errors.New("duet/auth: HS256Secret is " + strconv.Itoa(len(cfg.HS256Secret)) + " bytes; it must be at least 32")
		}
		j.secret = cfg.HS256Secret
		natural = []string{"HS256"}
	case cfg.PublicKeyFile != "":
		key, err := readPublicKey(cfg.PublicKeyFile)
		if err != nil {
			return nil, err
		}
		j.key = key
		natural = []string{algOf(key)}
	default:
		j.jwks = newKeySet(&cfg)
		natural = []string{"RS256", "ES256"}
		if err := j.jwks.load(); err != nil {
			return nil, err
		}
	}
	if cfg.Algorithms == nil {
		cfg.Algorithms = natural
	}
	for _, a := range cfg.Algorithms {
		if !slices.Contains(natural, a) {
			return nil, errors.New("duet/auth: algorithm " + a + " cannot be used with this key source (it allows " + strings.Join(natural, ", ") + ")")
		}
	}
	j.cfg.Algorithms = cfg.Algorithms
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(cfg.Algorithms),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(cfg.Leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	j.parser = jwt.NewParser(opts...)
	return j, nil
}

// algOf is the one algorithm a public key is used with.
func algOf(key crypto.PublicKey) string {
	if _, ok := key.(*rsa.PublicKey); ok {
		return "RS256"
	}
	return "ES256"
}

// checkKey refuses keys too weak or of a curve ES256 does not use.
func checkKey(key crypto.PublicKey) error {
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return errors.New("duet/auth: RSA key of " + strconv.Itoa(k.N.BitLen()) + " bits; at least 2048 are required")
		}
		return nil
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return errors.New("duet/auth: EC key on " + k.Curve.Params().Name + "; ES256 needs P-256")
		}
		return nil
	}
	return errors.New("duet/auth: unsupported public key type: use RSA (RS256) or EC P-256 (ES256)")
}

func readPublicKey(file string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("duet/auth: cannot read the public key file: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("duet/auth: " + file + " holds no PEM block")
	}
	var key crypto.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, errors.New("duet/auth: " + file + " holds a " + block.Type + "; want a PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE")
	}
	if err != nil {
		return nil, fmt.Errorf("duet/auth: cannot parse the public key in %s: %w", file, err)
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	return key, nil
}

// Authenticate is a server.Config.Authenticate hook: the identity of the
// request's bearer token, or ErrNoCredentials when it carries none.
func (j *JWT) Authenticate(r *http.Request) (server.Identity, error) {
	tok, _, err := j.cfg.Tokens.Token(r)
	if err != nil {
		if errors.Is(err, ErrNoCredentials) {
			return server.Identity{}, err
		}
		return server.Identity{}, shared.NewError(shared.CodeUnauthorized, err.Error())
	}
	return j.Verify(r, tok)
}

// Verify checks token and returns its identity. r (may be nil) bounds a
// JWKS fetch the check needs.
func (j *JWT) Verify(r *http.Request, token string) (server.Identity, error) {
	claims := jwt.MapClaims{}
	_, err := j.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		return j.keyFor(r, t)
	})
	if err != nil {
		return server.Identity{}, shared.NewError(shared.CodeUnauthorized, "invalid token: "+j.reason(err))
	}
	id := server.Identity{Claims: claims}
	id.Subject, _ = claims.GetSubject()
	if exp, _ := claims.GetExpirationTime(); exp != nil {
		// The token stops being accepted at exp plus the leeway: so does
		// a connection opened with it.
		id.Expires = exp.Time.Add(j.cfg.Leeway)
	}
	if id.Subscribe, err = patterns(claims, j.cfg.SubscribeClaim, j.cfg.DefaultSubscribe); err == nil {
		id.Publish, err = patterns(claims, j.cfg.PublishClaim, j.cfg.DefaultPublish)
	}
	if err != nil {
		return server.Identity{}, shared.NewError(shared.CodeUnauthorized, "invalid token: "+err.Error())
	}
	return id, nil
}

// keyFor returns the key that verifies t, for the algorithm t names (the
// parser has checked it is one of the configured ones).
func (j *JWT) keyFor(r *http.Request, t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	switch {
	case j.secret != nil:
		if _, ok := t.Method.(*jwt.SigningMethodHMAC); !ok {
			return nil, errors.New("algorithm " + alg + " does not match the HMAC key")
		}
		return j.secret, nil
	case j.key != nil:
		if algOf(j.key) != alg {
			return nil, errors.New("algorithm " + alg + " does not match the key")
		}
		return j.key, nil
	}
	kid, _ := t.Header["kid"].(string)
	ctx := context.Background()
	if r != nil {
		ctx = r.Context()
	}
	return j.jwks.key(ctx, kid, alg)
}

// reason words a jwt error for the client, without the library's prefix.
func (j *JWT) reason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid) && strings.Contains(err.Error(), "signing method"):
		// The parser refused the "alg" before looking at the signature.
		return "algorithm not accepted (" + err.Error() + "; this server accepts " + strings.Join(j.cfg.Algorithms, ", ") + ")"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "expired: refresh it"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "not valid yet (nbf is in the future)"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "issued in the future (iat)"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return "wrong audience (aud): it was issued for another service"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return "wrong issuer (iss)"
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return "a required claim is missing: " + err.Error()
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "cannot be verified: " + err.Error()
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed"
	}
	return err.Error()
}

// patterns reads a claim of channel patterns: an array of strings or one
// space-separated string; def when absent.
func patterns(claims jwt.MapClaims, name string, def []string) ([]string, error) {
	v, ok := claims[name]
	if !ok {
		return def, nil
	}
	switch v := v.(type) {
	case string:
		return strings.Fields(v), nil
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return nil, errors.New("claim " + name + " must hold strings")
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, errors.New("claim " + name + " must be an array of strings or a space-separated string")
}
