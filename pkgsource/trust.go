package pkgsource

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/stackup/stackup/topology"
)

// Sentinel errors of signed indexes, usable with errors.Is.
var (
	// ErrUntrusted reports an index that is unsigned, or not signed by a
	// configured key.
	ErrUntrusted = errors.New("untrusted index")
	// ErrRollback reports an index older than one already trusted: a
	// replayed index that could hide newer fixes.
	ErrRollback = errors.New("index rollback")
	// ErrExpired reports an index past its expiry time.
	ErrExpired = errors.New("index expired")
)

// SignIndex signs index bytes with key and returns the content of the
// detached signature file (index.json.sig): the base64 of the ed25519
// signature and a newline.
func SignIndex(key ed25519.PrivateKey, index []byte) []byte {
	sig := ed25519.Sign(key, index)
	return append([]byte(base64.StdEncoding.EncodeToString(sig)), '\n')
}

// TrustStore remembers, per repository, the highest index version trusted,
// so that a signed source can refuse an older index replayed to it.
// Implementations must be safe for concurrent use.
type TrustStore interface {
	// Version returns the highest version trusted for repo, or 0.
	Version(ctx context.Context, repo string) (int64, error)
	// SetVersion records that version v of repo was trusted.
	SetVersion(ctx context.Context, repo string, v int64) error
}

// ErrNoTrustStore reports a FileTrustStore whose file does not exist,
// for a store not allowed to create it (see AllowFirstUse): a deleted
// store would otherwise accept any replayed older index.
var ErrNoTrustStore = errors.New("no trust store")

// FileTrustStore is a TrustStore kept in a JSON file, replaced atomically
// on every change. It is safe for concurrent use, within one process and,
// on systems with flock (Linux, the BSDs, macOS), between processes:
// SetVersion reads, changes and replaces the file holding an exclusive
// lock on a sibling lock file (the store's path and ".lock"), which it
// creates and leaves in place. Elsewhere, writers in different processes
// can lose each other's updates.
type FileTrustStore struct {
	mu       sync.Mutex
	path     string
	firstUse bool
}

var _ TrustStore = (*FileTrustStore)(nil)

// FileTrustStoreOption configures a FileTrustStore.
type FileTrustStoreOption func(*FileTrustStore)

// AllowFirstUse lets a FileTrustStore whose file does not exist trust
// nothing yet, and create the file on its first SetVersion. Without it,
// a missing file is refused with a *FileError matching ErrNoTrustStore
// (and fs.ErrNotExist), so that deleting the store cannot reset rollback
// protection. Give it only when setting the store up: a store created
// this way trusts whatever index version it sees first.
func AllowFirstUse() FileTrustStoreOption { return func(s *FileTrustStore) { s.firstUse = true } }

// NewFileTrustStore returns a store kept at path. The file must exist
// unless AllowFirstUse is given; then it is created on the first
// SetVersion. The store reads the file only if it is a regular file of at
// most 1 MiB, and refuses it otherwise with a *FileError, as a malformed
// store: a signed source then trusts nothing.
func NewFileTrustStore(path string, opts ...FileTrustStoreOption) *FileTrustStore {
	s := &FileTrustStore{path: path}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

const trustStoreWhat = "trust store"

func (s *FileTrustStore) load() (map[string]int64, error) {
	f, err := openRegular(trustStoreWhat, s.path, nonblocking(os.OpenFile))
	if errors.Is(err, os.ErrNotExist) {
		if s.firstUse {
			return map[string]int64{}, nil
		}
		return nil, &FileError{What: trustStoreWhat, Path: s.path, Err: fmt.Errorf(
			"%w: %w: it was deleted, or never created; to start trusting afresh the index versions repositories serve now, create it by allowing first use (AllowFirstUse)",
			ErrNoTrustStore, os.ErrNotExist)}
	}
	if err != nil {
		var fe *FileError
		if !errors.As(err, &fe) {
			err = &FileError{What: trustStoreWhat, Path: s.path, Err: err}
		}
		return nil, err
	}
	defer f.Close()
	data, err := readAtMost(trustStoreWhat, f, maxTrustStore)
	if err != nil {
		return nil, err
	}
	var versions map[string]int64
	if err := json.Unmarshal(data, &versions); err != nil || versions == nil { // null too
		if err == nil {
			err = errors.New("it holds null, not an object of versions")
		} else {
			err = topology.JSONError(data, err) // in the file's terms, with its place
		}
		return nil, &FileError{What: trustStoreWhat, Path: s.path, Err: fmt.Errorf(
			"malformed (%w): restore it from a backup; recreating it would trust whatever index versions repositories serve now", err)}
	}
	return versions, nil
}

// Version implements TrustStore. It takes no lock: SetVersion replaces
// the file atomically, so a reader sees it before or after a change.
func (s *FileTrustStore) Version(_ context.Context, repo string) (int64, error) {
	versions, err := s.load()
	return versions[repo], err
}

// SetVersion implements TrustStore. It never lowers a recorded version.
// It waits for the store's lock until ctx is done; it refuses a lock file
// that is a symbolic link or not a regular file.
func (s *FileTrustStore) SetVersion(ctx context.Context, repo string, v int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.firstUse {
		// Refuse a missing store before creating its lock file; load,
		// under the lock, checks again.
		if _, err := os.Lstat(s.path); errors.Is(err, os.ErrNotExist) {
			_, err = s.load()
			return err
		}
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	versions, err := s.load()
	if err != nil {
		return err
	}
	if versions[repo] >= v {
		return nil
	}
	versions[repo] = v
	data, err := json.MarshalIndent(versions, "", "  ")
	if err != nil {
		return err
	}
	if err := writeAtomic(s.path, data, 0o600); err != nil { // its owner's only, as what it trusts
		return &FileError{What: trustStoreWhat, Path: s.path, Err: err}
	}
	return nil
}

// lock takes the store's lock between processes, and returns its release.
func (s *FileTrustStore) lock(ctx context.Context) (unlock func(), err error) {
	const what = "trust store lock"
	path := s.path + ".lock"
	f, err := openLockFile(path)
	if err != nil {
		if info, lerr := os.Lstat(path); lerr == nil && !info.Mode().IsRegular() {
			err = fmt.Errorf("%w: it is not a regular file (%s); remove it", err, info.Mode().Type())
		}
		return nil, &FileError{What: what, Path: path, Err: err}
	}
	if err := topology.CheckRegular(f); err != nil {
		f.Close()
		if pe, ok := errors.AsType[*fs.PathError](err); ok {
			err = pe.Err
		}
		return nil, &FileError{What: what, Path: path, Err: fmt.Errorf("%w; remove it", err)}
	}
	if err := lockFile(ctx, f); err != nil {
		f.Close()
		return nil, &FileError{What: what, Path: path, Err: err}
	}
	return func() { f.Close() }, nil // closing releases the lock
}

// memoryTrust is the TrustStore of a source configured with keys but no
// store: it remembers versions for the life of the source.
type memoryTrust struct {
	mu       sync.Mutex
	versions map[string]int64
}

func (m *memoryTrust) Version(_ context.Context, repo string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.versions[repo], nil
}

func (m *memoryTrust) SetVersion(_ context.Context, repo string, v int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.versions == nil {
		m.versions = map[string]int64{}
	}
	m.versions[repo] = max(m.versions[repo], v)
	return nil
}

// Option configures a Dir or HTTP source.
type Option func(*options)

type options struct {
	keys       []ed25519.PublicKey
	keysGiven  bool // WithKeys was given, with keys or none
	store      TrustStore
	now        func() time.Time
	maxIndex   int64
	retries    int
	backoff    time.Duration
	reqTimeout time.Duration
}

func newOptions(opts []Option) (options, error) {
	o := options{now: time.Now, maxIndex: MaxIndexSize, retries: 3, backoff: 100 * time.Millisecond}
	for _, opt := range opts {
		opt(&o)
	}
	if o.keysGiven && len(o.keys) == 0 {
		// Taken as no WithKeys, it would trust any index: fail closed.
		return o, errors.New("pkgsource: WithKeys was given no key: give the public keys the repository is signed with, or leave the option out for an unsigned repository")
	}
	for i, k := range o.keys {
		if len(k) != ed25519.PublicKeySize {
			return o, fmt.Errorf("pkgsource: key #%d is %d bytes, want an ed25519 public key of %d", i+1, len(k), ed25519.PublicKeySize)
		}
	}
	if o.maxIndex <= 0 {
		return o, fmt.Errorf("pkgsource: WithMaxIndexSize(%d): give the most bytes an index may have, 1 or more", o.maxIndex)
	}
	if o.reqTimeout < 0 {
		return o, fmt.Errorf("pkgsource: WithRequestTimeout(%v): give how long a request may take, more than 0, or leave the option out for the default", o.reqTimeout)
	}
	if len(o.keys) == 0 && o.store != nil {
		// A source without keys would ignore it in silence.
		return o, errors.New("pkgsource: WithTrustStore without WithKeys: a trust store keeps the versions of signed indexes only; " +
			"give the keys the repository is signed with (WithKeys), or leave the store out")
	}
	if len(o.keys) > 0 && o.store == nil {
		o.store = &memoryTrust{}
	}
	return o, nil
}

// WithKeys makes the source trust only indexes signed by one of keys: an
// index without a valid signature (index.json.sig) is refused with
// ErrUntrusted, one older than the newest trusted with ErrRollback. An
// older index is read once more before it is refused: a newer one may
// have been published while it was read, and trusted meanwhile by another
// reader sharing the trust store.
//
// WithKeys given no key is refused, as the source would otherwise trust
// any index: a list of keys read from files that came out empty must not
// turn signature checks off.
func WithKeys(keys ...ed25519.PublicKey) Option {
	return func(o *options) { o.keys, o.keysGiven = append(o.keys, keys...), true }
}

// WithTrustStore sets where the newest trusted index version is
// remembered between runs. Without it, a source with keys remembers it in
// memory only; without keys (WithKeys), the store is refused, as such a
// source keeps no version floor.
//
// A Dir names its repository in the store by its directory's absolute
// path with symbolic links resolved; an HTTP by "http(s)://", its base
// URL's host in lower case (no final dot), its port unless 80 or 443, and
// its cleaned path ending in "/" (no user information or query). So a
// link to the directory, another spelling of the URL, or plain http in
// place of https shares the repository's version floor rather than
// starting afresh. A version recorded under the name a source used before
// (the directory as given, the base URL as given) is a floor too.
func WithTrustStore(s TrustStore) Option { return func(o *options) { o.store = s } }

// WithClock sets the clock that index expiry is checked against; nil is
// the system clock (time.Now).
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now == nil {
			now = time.Now
		}
		o.now = now
	}
}

// WithMaxIndexSize sets the largest index the source reads, in bytes.
func WithMaxIndexSize(n int64) Option { return func(o *options) { o.maxIndex = n } }

// WithRetries sets how many times an HTTP source retries a request that
// failed with a 5xx status or a connection error (not a 4xx, nor a refused
// redirect), waiting about backoff before the first retry and about twice
// as long before each next one, at most about DefaultMaxRetryWait. Each
// wait is drawn at random within 50% of its nominal length, so that
// clients retrying at once spread out. A 429 or 5xx answer with a
// Retry-After header is retried after the wait it asks for instead (a 429
// without one is not retried); one that asks for more than
// DefaultMaxRetryWait is not retried, and its *StatusError says when to
// come back (RetryAfter). The default is 3 retries from 100ms.
func WithRetries(n int, backoff time.Duration) Option {
	return func(o *options) { o.retries, o.backoff = max(n, 0), max(backoff, 0) }
}

// WithRequestTimeout bounds each HTTP request of an index, headers and
// body, and each wait for a package's content: for the answer's headers,
// then for each read of its body, so that a large package that keeps
// coming is not cut off, and one that stalls is. The default is the
// client's own Timeout (which, in net/http, bounds a whole request, body
// included) or, when it has none (0 or less), DefaultRequestTimeout. A
// negative d is refused: it would bound nothing.
func WithRequestTimeout(d time.Duration) Option { return func(o *options) { o.reqTimeout = d } }

// newBackoff returns the waits between the attempts of one request.
func (o *options) newBackoff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{InitialInterval: min(o.backoff, DefaultMaxRetryWait), RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: DefaultMaxRetryWait}
}

// maxSignature is the largest signature file a source reads, in bytes.
const maxSignature = 1 << 10

// readSignature takes the result of reading repo's signature file, of at
// most maxSignature bytes: none is no signature (trustedIndex refuses the
// index), and a larger one is untrusted, whatever reads it.
func readSignature(repo string, sig []byte, err error) ([]byte, error) {
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, nil
	case errors.Is(err, ErrInvalidIndex):
		return nil, fmt.Errorf("pkgsource: %s: %w: signature file larger than %d bytes", repo, ErrUntrusted, maxSignature)
	}
	return sig, err
}

// dirTrustKey returns the trust store key of the repository in directory
// abs, an absolute path: the path with symbolic links resolved, so that
// a link (such as /srv/current) and its target share their rollback
// protection. If the links cannot be resolved, it is abs, cleaned.
func dirTrustKey(abs string) string {
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return filepath.Clean(real)
	}
	return filepath.Clean(abs)
}

// httpTrustKey returns the trust store key of the repository at base:
// "http(s)://", the host in lower case without final dots, the port
// unless it is 80 or 443, and the cleaned path ending in "/", with no user
// information, query or fragment. A repository has the same key over http
// and https, so that a version trusted over https is a floor over http as
// well, and one spelling of its URL cannot reset its protection.
func httpTrustKey(base *url.URL) string {
	host := strings.TrimRight(strings.ToLower(base.Hostname()), ".")
	switch port := base.Port(); {
	case port != "" && port != "80" && port != "443":
		host = net.JoinHostPort(host, port)
	case strings.Contains(host, ":"): // IPv6
		host = "[" + host + "]"
	}
	p := path.Clean("/" + base.Path)
	if p != "/" {
		p += "/"
	}
	return "http(s)://" + host + (&url.URL{Path: p}).EscapedPath()
}

// trustedIndex parses index data, after checking its signature when keys
// are configured, refuses an expired index, and, with keys, one older than
// the newest trusted for the repository, which it then records. repo names
// the repository in errors; key is its trust store key (see dirTrustKey,
// httpTrustKey).
func (o *options) trustedIndex(ctx context.Context, repo, key string, data, sig []byte) (*Index, error) {
	if len(o.keys) > 0 {
		if err := o.checkSignature(data, sig); err != nil {
			return nil, fmt.Errorf("pkgsource: %s: %w", repo, err)
		}
	}
	idx, err := parseIndex(data, o.maxIndex)
	if err != nil {
		if ie, ok := errors.AsType[*IndexError](err); ok && ie.Repo == "" {
			ie.Repo = repo // an HTML page in place of the index says where it came from
		}
		return nil, err
	}
	if now := o.now(); !idx.Expires.IsZero() && now.After(idx.Expires) {
		generated := ""
		if !idx.Generated.IsZero() {
			generated = " was generated at " + idx.Generated.UTC().Format(time.RFC3339)
		}
		return nil, fmt.Errorf("pkgsource: %s: %w: expired at %s, and this host's clock reads %s: "+
			"the publisher must publish a fresh index (index version %d%s), or, if the clock is wrong, set it right",
			repo, ErrExpired, idx.Expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), idx.Version, generated)
	}
	if len(o.keys) == 0 {
		return idx, nil
	}
	trusted, err := o.store.Version(ctx, key)
	if err != nil {
		return nil, err
	}
	if repo != key {
		// A store written before keys were normalised names the
		// repository as repo: keep that floor too.
		legacy, err := o.store.Version(ctx, repo)
		if err != nil {
			return nil, err
		}
		trusted = max(trusted, legacy)
	}
	if idx.Version < trusted {
		return nil, fmt.Errorf("pkgsource: %s: %w: index version %d is older than version %d, already trusted: "+
			"the repository, or a mirror or cache in front of it, serves an old index; wait until it serves version %d or later, or point the source at one that does",
			repo, ErrRollback, idx.Version, trusted, trusted)
	}
	if err := o.store.SetVersion(ctx, key, idx.Version); err != nil {
		return nil, err
	}
	return idx, nil
}

// signatureHint says, for sig, a signature file that checkSignature
// refuses, and raw and err, what decodeBase64 made of it, how it was
// written wrong, as the usual tools write signatures, and what to write
// instead; or "".
func signatureHint(sig, raw []byte, err error) string {
	text := strings.TrimSpace(string(sig))
	switch {
	case text == "":
		return ": it is empty"
	case strings.HasPrefix(text, "\ufeff"):
		return ": " + bomHint
	case err != nil && len(sig) == ed25519.SignatureSize:
		return ": it holds 64 bytes that are not base64, the signature itself: write its base64 (base64 -w0)"
	case strings.ContainsAny(text, "\r\n"):
		lines := len(strings.FieldsFunc(text, func(r rune) bool { return r == '\r' || r == '\n' }))
		return fmt.Sprintf(": it is broken over %d lines, as base64 writes it by default: write it on one line (base64 -w0)", lines)
	case strings.ContainsAny(text, "-_"):
		return `: it is URL-safe base64 ("-" or "_"): write standard base64`
	case err == nil:
		return fmt.Sprintf(": it decodes to %d bytes, and an ed25519 signature has %d", len(raw), ed25519.SignatureSize)
	}
	return ""
}

func (o *options) checkSignature(data, sig []byte) error {
	if sig == nil {
		return fmt.Errorf("%w: no signature (%s beside %s): publish the index signed with a key given to this source", ErrUntrusted, SignatureFile, IndexFile)
	}
	raw, err := decodeBase64(string(sig))
	if err != nil || len(raw) != ed25519.SignatureSize {
		return fmt.Errorf("%w: malformed signature: %s must hold the base64 of an ed25519 signature of %s (see SignIndex)%s",
			ErrUntrusted, SignatureFile, IndexFile, signatureHint(sig, raw, err))
	}
	for _, k := range o.keys {
		if ed25519.Verify(k, data, raw) {
			return nil
		}
	}
	return fmt.Errorf("%w: signature matches no trusted key: the index is signed with another key "+
		"(after a key rotation, trust the publisher's new public key) or changed after it was signed "+
		"or while it was read (read it again)", ErrUntrusted)
}
