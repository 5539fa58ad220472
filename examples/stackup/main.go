// Command stackup plans and runs platform-first upgrades from files, and
// serves the same over HTTP.
//
// Usage:
//
//	stackup plan  [inputs] [--format text|json|mermaid|dot] [--explain NODE]... [--out PLANFILE]
//	stackup apply [inputs] --exec COMMAND [run flags]
//	stackup apply PLANFILE [inputs but --requests] --exec COMMAND [run flags]
//	stackup serve [inputs] --exec COMMAND [run flags] [serve flags]
//	stackup serve [inputs] --database URL [run flags but --exec ...] [serve flags]
//	stackup apply [PLANFILE] [inputs] --database URL [run flags but --exec ...]
//	stackup worker --database URL --exec COMMAND [--verify-exec COMMAND] [--repo DIR|URL] [--plan ID] [worker flags]
//	stackup help [COMMAND]
//
// Every command takes --help. Run without arguments, stackup prints its
// usage on standard error and exits 2. A flag that names a file or a
// directory, a command (--exec and the like), a plan ID (worker --plan)
// or batches (--max-in-flight) given empty, as --tls-cert "$CERT" gives
// it when CERT is unset, is refused (exit 2), not taken for the flag
// left out.
//
// # Inputs
//
// The deployment, one of:
//
//	--topology FILE                  a topology file, JSON (.json) or YAML (.yaml, .yml),
//	                                 schema stackup.topology/v1 (see topology.ReadJSON)
//	--tosca FILE --instances FILE    a TOSCA service template and its instance file
//	                                 (see topology.ReadTOSCA)
//
// The package repository:
//
//	--repo DIR|URL        a directory, or an http(s) URL, holding index.json
//	                      (schema stackup.index/v1) and the package files it names
//	--key FILE            trust only an index signed (index.json.sig) by this key:
//	                      a file holding a base64 ed25519 public key; repeatable
//	--trust-store FILE    remember the newest trusted index version here, to refuse
//	                      an older index replayed later (needs --key); FILE must
//	                      exist, so that deleting it cannot reset the protection
//	--trust-first-use     create the --trust-store FILE if it does not exist:
//	                      only when setting it up, as it then trusts what it sees
//
// A --key or --trust-store file that other users of the host can write is
// refused (exit 2: chmod o-w FILE), as they could choose what is trusted.
//
// The requests (not for serve, whose clients post them):
//
//	--requests FILE       YAML or JSON:
//
//	requests:
//	  - application: shop          # the deployed application
//	    replaces: shop_app         # its template whose nodes are upgraded
//	    template:                  # the new template
//	      id: shop_app
//	      type: webapp
//	      version: 2.0.0
//	      requirements:
//	        - {name: host, template: tomcat_server, constraint: ">=10.1, <11", relation: hosted_on}
//
// Unknown fields are errors; relation is hosted_on, depends_on or empty.
// A file (or a body posted to serve) holds at most 100 requests.
//
// Planner settings:
//
//	--policy newest|nearest|latest-patch    which satisfying version to pick (default newest)
//	--allow-downgrade                       allow lowering a platform node's version
//	--max-minor-step N                      advance at most N minor versions per hop
//
// # plan
//
// plan prints the plan: --format text (default), json (schema
// stackup.plan/v3), mermaid or dot. --explain NODE, repeatable and only with
// text, also prints why the plan gives that platform node its version.
// --out PLANFILE also saves the plan as JSON, for review and for apply
// PLANFILE; the file is written atomically (a temporary file in the same
// directory, synced, then renamed), mode 0644, and an existing PLANFILE
// that is not a regular file (a symbolic link, a directory) is refused,
// and so is one of the input files, or an existing file in the --repo
// directory (exit 2, before anything is read).
//
// # apply
//
// apply plans, prints the plan (not with --quiet), and runs it, printing a
// line per step event, with how long each step took, and a summary:
//
//	[0/8] start  platform/java-1@17.0.13
//	[1/8] done   platform/java-1@17.0.13  (2.1s)
//	…
//	8 succeeded, 0 failed, 0 skipped, 0 rolled back; 14.2s in all
//
// Given a PLANFILE (written by plan --out) instead of --requests, apply
// runs exactly that plan: a plan file that was edited is refused (exit 2),
// and the stale check (--stale-check) is always on, against the topology
// as it is now. Its journal is PLANFILE.journal unless --journal says
// otherwise: running the same command again resumes it.
//
// When standard input is a terminal and --yes is not given, apply shows
// the plan (even with --quiet, then on standard error) and asks "Apply
// these N steps? [y/N]" on standard error, which reaches the terminal when
// standard output goes to a file; any answer but y or yes exits 1 and
// runs nothing. When standard input is not a terminal (CI, /dev/null),
// apply does not ask.
//
// After each step succeeds (and after a step is rolled back), apply
// records the node's new version in the deployment's file, so that the
// next plan starts from it: the --topology file, or the --instances file
// of a TOSCA deployment. After an application step, the node's template
// too (its new ID, if it changed) and, once every node of the template
// runs the new one, the template's definition (version and requirements):
// later plans then read what the nodes require now (not in a TOSCA
// deployment, whose service template is never written). It edits the node's version field in place (YAML
// keeps its comments, key order and styles; a JSON topology is written
// again, indented, and so is an instance file in JSON, .json, keeping
// its key order; every file keeps its encoding, UTF-8 or UTF-16, its
// byte-order mark, its CR LF line ends and, in YAML, its directives and
// "---"), checks that the result reads back, and replaces the
// file atomically through its directory, refusing a file that is a
// symbolic link; two stackup processes take turns (a lock on the
// directory). Before the first step runs, apply (and serve, before a run)
// makes the edits of every step of the plan without writing them, and
// refuses a plan whose steps the file could not record (exit 2): a node
// whose version is an alias of another's, say. --learn=false leaves the file alone; with --requests and
// --journal, learning is off unless --learn is given, since resuming
// that journal needs the same plan, planned from the same topology.
// A crash between a step and that write leaves the journal saying the step
// succeeded and the file saying its From: the resumed apply (the same
// journal) accepts that in its stale check, does not run the step again,
// and records its version when it ends; but a new plan made from the file
// without the journal plans the step again.
//
// One apply at a time runs on a deployment: apply (without --database)
// holds a lock on .NAME.stackup-lock beside the topology or instance file
// NAME while it runs, and a second apply on the same file exits 1 at
// once, naming the first ("pid N on HOST since TIME"), and runs nothing.
// serve (without --database) holds the same lock while it has runs going:
// an apply meanwhile exits 1 so, and a run applied on the server during
// an apply is refused, 409 {"kind": "busy"}.
//
// Each step runs a command, without a shell:
//
//	--exec 'deploy --node {{.Node}} --to {{.To}} {{with .Package}}{{.Location}}{{end}}'
//
// At startup the value is split into words as a shell would, with quotes
// ('...' keeps everything, "..." all but \" \\ \$ \`, a backslash outside
// quotes keeps the next character) but without expanding anything: no
// variables, globs or command substitution. Unquoted shell operators
// (| & ; < > ( )), a # starting a word (a shell's comment, whose words
// would be passed here) and $ or ` outside single quotes are refused,
// since they would not do what they seem to. The first word is the program, plain
// text; each other word is a text/template, rendered with the step into
// exactly one argument whatever the step holds (a word that renders empty
// is an empty argument). A template action is part of its word, blanks
// and quotes included ({{if eq .Node "a b"}} needs no quoting), and must
// close within it. The template's data has the step's fields .ID .Kind
// .App .Node .Template .Type .From .To .Package (nil for an application
// step: use {{with .Package}}) .NewTemplate .Reason, .InDoubt, true
// when a resumed run offers again a step that an interrupted run started
// but never finished, and .PackageFile, the path of a private copy of a
// platform step's package that stackup has checked against the index's
// digest and size ("" for an application step): install from it, not
// from the repository, so that what is installed is what was checked.
// The copy is read-only and removed when apply ends. A command that cannot be split or parsed, or that
// fails for a sample platform or application step, is refused at startup
// (exit 2), before anything is read or run; every command is also
// rendered for every step of the plan before the first step runs.
//
// The command also gets the environment variables STACKUP_STEP,
// STACKUP_KIND, STACKUP_APP, STACKUP_NODE, STACKUP_FROM, STACKUP_TO,
// STACKUP_IN_DOUBT (true or false), STACKUP_PACKAGE_FILE (as
// .PackageFile) and STACKUP_ACTION (execute, verify or rollback), on top
// of stackup's own environment less its secrets: a command gets neither
// STACKUP_TOKEN nor STACKUP_DATABASE_URL. To use a shell, run one, and hand it the step's data as
// environment or arguments, never inside its script (as typed in a
// POSIX shell):
//
//	--exec "sh -c 'deploy \"\$STACKUP_NODE\" >> /var/log/deploy.log'"
//	--exec "sh -c 'deploy \"\$1\" --to \"\$2\"' sh {{.Node}} {{.To}}"
//
// A non-zero exit fails the step, and the error quotes the end of the
// command's standard error; its standard output goes to stackup's
// standard error, each line starting with "[STEP-ID] " when steps run
// side by side (--concurrency above 1, and always in serve and worker,
// whose runs go side by side). A step cut short by --step-timeout
// fails with "execute command timed out after D (--step-timeout)". Each command runs in a process group of its own.
// Cancelling (SIGINT, SIGTERM, a step timeout) sends SIGTERM to the
// group, and SIGKILL 5 seconds later to what is left of it; a command
// that ends by itself may leave processes behind (a daemon it started).
// On Linux a command also gets SIGKILL when stackup dies, even by
// SIGKILL; its own children do not.
//
// Run flags:
//
//	--concurrency N          run up to N steps at once (default 1)
//	--canaries N             roll out N instances of each application template first
//	--max-in-flight N|P%     then the other instances in batches of this size
//	--continue               after a failure, go on with the steps that do not depend on it
//	--retries N              retry a failed step N times, at most 1000 (backoff --retry-backoff, doubling)
//	--step-timeout D         bound each attempt of a step, such as 5m
//	--grace D                after SIGINT or SIGTERM, give running steps D to finish
//	                         (default 1m; 0: stop them at once)
//	--verify-exec COMMAND    a health check run after each step, like --exec;
//	                         failing it fails the step
//	--rollback               when the run fails, undo the steps done, last first ...
//	--rollback-exec COMMAND  ... with this command, like --exec (required with --rollback)
//	--journal FILE           record progress; running apply again with the same journal
//	                         (and the same inputs) resumes: steps done are not run again
//	                         (default with PLANFILE: PLANFILE.journal)
//	--yes                    do not ask for confirmation on a terminal
//	--learn                  record each node's new version in the topology file (default
//	                         true; false with --requests and --journal)
//	--prefetch               fetch and verify every package before the first step
//	--stale-check            refuse to run when a node's version in the topology is not
//	                         the one the plan expects; with --journal, a node whose steps
//	                         the journal records as done may be at either end of them
//	--quiet                  do not print the plan
//
// The first SIGINT or SIGTERM stops apply gently: no new step starts,
// running steps have --grace to finish and are then stopped, and apply
// exits 1 saying how to resume (with --journal, run the same command
// again). A second signal exits at once with code 130; a step it leaves
// running is offered again, in doubt, by the resumed run. Input files
// must be regular files: a named pipe or a device is refused rather than
// waited on.
//
// # Runs in a database: apply --database and worker
//
// With --database URL (a postgres:// or postgresql:// URL; else the
// environment variable STACKUP_DATABASE_URL) and --database-schema NAME
// (default stackup), apply plans, checks (a PLANFILE, or --stale-check,
// against the topology) and prints as without, but then submits the plan
// to the database (upgrade/pgrun) with the run flags (--concurrency,
// --continue, --retries, --retry-backoff, --step-timeout, --rollback, and
// the rolling flags, which shape the plan), and follows the run, printing
// the same progress lines from the run's events and the same summary,
// plus the steps in doubt. It runs no command: the workers do, so --exec,
// --verify-exec and --rollback-exec are given to them (with --rollback,
// the run is undone by the workers given --rollback-exec) and refused
// here, and so are --journal (the database keeps the run: applying the
// same plan again follows the same run, or, once it has ended without
// succeeding, takes it up again, as a journal resumes a run: the steps
// not done run again; a run keeps the run flags it was submitted with,
// and applying its plan with others is refused, exit 2) and --prefetch (each worker given
// --repo fetches and checks a step's package itself). It exits 0 when every step succeeded, 1
// when one failed or on the first SIGINT or SIGTERM, which stops only the
// following: the run goes on with its workers. The topology file learns
// each step's version as the events come, as without --database. The
// same apply run again while that run goes on follows it: with
// --requests, planned from the topology that learned the steps done, its
// plan is the steps left, which apply finds in the run and does not
// submit again. A plan some of whose steps, but not all, are steps of a
// run going on is refused (exit 1), as the two runs would each do them.
// But the topology file learns a run's steps only while an apply follows
// it: the same requests applied once the run has ended plan again the
// steps it did unfollowed, for another run to do again, and the
// interrupted apply says so. An apply of a PLANFILE follows its run at
// any time, ended or not.
//
// stackup worker --database URL --exec COMMAND runs the steps of the runs
// in the database's schema, with the commands as apply runs them
// (--verify-exec too; standard output to standard error, each line
// starting with "[STEP-ID] "). Any number of workers, on any hosts, may
// run one plan's steps; the run's --concurrency holds across all of them,
// and a step never starts before the steps it needs succeeded. With
// --plan ID the worker works on that run only and exits 0 once it has
// finished; started before the plan is submitted, it waits for it, and
// started on a run that failed or was cancelled, it waits for the plan to
// be applied again (an ID that is not "sha256:" and 64 lower-case hex
// digits is refused, exit 2).
// Without --plan, it works on every run not finished, new ones included,
// until stopped. The first SIGINT or SIGTERM drains the worker, as it
// stops apply: it claims no more steps, its running commands finish and
// their outcomes are recorded, and it exits 0, saying "drained: N steps
// finished, nothing new claimed", or 1 naming the steps that failed. A
// second signal exits at once (130), leaving the steps still running to
// the other workers, in doubt, once their lease expires. A worker that
// dies, even by SIGKILL, holds its steps until their lease (--lease,
// default 30s) expires; another worker then runs them again with .InDoubt true
// (STACKUP_IN_DOUBT=true). In a run cancelled meanwhile they fail then,
// in doubt, and the run ends, for apply and serve following it, even with
// no worker left on it. With --repo DIR|URL (the repository serve or
// apply plans from, or a copy of it on the worker's host), a platform
// step's command gets its package as apply's does (.PackageFile,
// STACKUP_PACKAGE_FILE): a private read-only copy, read through the
// repository (a directory through os.Root: no package name or link leads
// outside it) and checked against the digest and size in the plan, which
// the repository's index cannot change afterwards; a copy that does not
// match, or a name the repository refuses, fails the step without running
// its command. A run's copies are its own, removed once the worker is
// done with the run. Without --repo, .PackageFile is "". Worker flags: --slots N
// (steps at once, per run), --lease D, --poll D (default 1s), --grace D
// (default 5s: between SIGTERM and SIGKILL for a command cut short, its
// run cancelled or its lease lost), --name NAME (in events; default
// host:pid).
//
// serve --database URL (and --database-schema) does the same for the plans
// its clients apply; see "Runs in the database" under serve.
//
// The URL is a secret: stackup never prints it, shows a refused value
// only by its scheme, and removes its password from database errors. A
// command line is not secret (other users of the host see it in ps): give
// a URL with a password in STACKUP_DATABASE_URL, or leave the password
// out of the URL and give it in PGPASSWORD or a ~/.pgpass file, which the
// driver reads.
//
// # serve
//
// serve runs a deployment server on --listen (default 127.0.0.1:8080) with
// the inputs and run flags above, except --requests, --journal and --quiet.
// Clients post requests to get a plan to review, then apply that plan by
// its ID, and follow the run. On the first SIGINT or SIGTERM it stops
// listening, and runs in progress start no new step; their running steps
// have --grace to finish before they are cancelled, and the runs end
// "interrupted", to resume later. A second signal exits at once.
//
// The state directory, --state-dir DIR (required), keeps the plans
// posted for review, and each run's record and journal
// (upgrade.FileJournal), so that a restarted server lists past runs with
// their outcome. serve creates DIR (mode 0700) if it does not exist, and
// refuses a DIR that is a symbolic link or not a directory, or that
// another serve holds (it keeps DIR/lock flocked while it runs), and one
// that another user of the host could plant plans and runs in: that
// others can write in (as its plans and runs directories), or that
// belongs to another user but root (exit 2, before anything is written
// in it). It reaches
// its files through os.Root, by names made only from IDs it has checked:
//
//	DIR/plans/sha256-HEX.json   a reviewed plan (schema stackup.plan/v3)
//	DIR/runs/RUN.json           a run's record: its status, as GET /v1/runs/RUN
//	DIR/runs/RUN.journal        its journal
//
// A run that was running when the server stopped or died is
// "interrupted" when the server starts again; its steps that its journal
// shows started but not finished are "in_doubt". POST
// /v1/runs/RUN/resume resumes it: steps done are not run again, and a
// step in doubt runs again with .InDoubt true (STACKUP_IN_DOUBT=true), so
// the command can check what the interrupted attempt did. With --resume,
// serve resumes every interrupted run at start, before it listens;
// without, it only offers to (the run's "error" says how). Of the plans
// posted for review that no run names, serve keeps the newest 1,000
// (--keep-plans) and removes the older ones; runs and their journals are
// never removed: prune old runs by hand while serve is stopped.
//
// After each step that succeeded, the server's inventory learns the
// node's new version, and after a step rolled back (--rollback) its old
// one, as apply's does, so that the next plan starts from it. Each plan and
// run reads the topology file again when it changed since it was read, by
// the server or by anything else (a changed size or modification time, or
// another file put in its place). A resumed run
// first has it learn again the versions of the steps its journal records
// as done, so that a crash between a step and that learning loses
// nothing. A run whose steps all succeeded but whose versions could not
// all be recorded (a topology file broken meanwhile) ends "failed", its
// error saying so, as apply exits 1: the next plan would plan those steps
// again. Resuming it, once the file is mended, records them.
//
// # Runs in the database: serve --database
//
// With --database URL (or STACKUP_DATABASE_URL; --database-schema as
// apply's), serve runs no command: POST /v1/plans/PLAN_ID/apply (and
// POST /v1/apply) checks the plan as without (the stale check, answered
// 409 {"kind": "stale"} with nothing submitted) and submits it to the database with the run flags, as apply --database
// does; the workers (stackup worker --database URL --exec COMMAND, on
// any hosts) run it. --exec, --verify-exec, --rollback-exec and
// --prefetch are refused, as with apply --database; with --rollback, a
// run that fails is undone by the workers given --rollback-exec, as with
// apply --database. The run's ID is
// made from the plan's: applying one plan again answers with the same
// run, not a second one; applying it again, or POST /v1/runs/RUN/resume,
// once the run has failed or was cancelled takes it up again in the
// database (its steps done are not run again), with the run flags it was
// submitted with: a server given others answers 409 {"kind": "conflict"}. The server follows the run in the database:
// GET /v1/runs/RUN, its event stream, the dashboard and the metrics show
// it as they show a run of the server's own, with "database": true in
// its status, and POST /v1/runs/RUN/cancel cancels it there (the workers
// stop its running steps at their next lease renewal). A restarted
// server follows again the runs it had not seen end; the runs go on with
// their workers meanwhile, so there is nothing to resume: POST
// /v1/runs/RUN/resume answers 409 {"kind": "not_resumable"}. Errors of
// the database answer 502 {"kind": "database"}, without its password; a
// plan the database holds with other settings, 409 {"kind": "conflict"}.
// The state directory keeps the plans and the runs' records as without.
//
// A deployment with a server and two workers, each on its host (the
// token file and URL as above):
//
//	stackup serve --topology topo.yaml --repo /srv/repo --state-dir /var/lib/stackup \
//	    --listen 0.0.0.0:8443 --token-file token --tls-cert cert.pem --tls-key key.pem \
//	    --database postgres://stackup@db.example/stackup --concurrency 4
//	stackup worker --database postgres://stackup@db.example/stackup --repo /srv/repo \
//	    --exec 'deploy {{.Node}} {{.To}} {{.PackageFile}}'
//
// Serve flags:
//
//	--listen ADDR          the address to listen on; other than a loopback address
//	                       (127.0.0.1, [::1], localhost), only with a token given
//	--token-file FILE      the bearer token: a regular file of at most 4 KiB, trimmed,
//	                       at least 16 printable ASCII characters; else STACKUP_TOKEN,
//	                       the same, if set (set and empty is an error); a file that
//	                       other users can read or write is refused (chmod 600)
//	--allow-host NAME      answer requests for host NAME too (repeatable)
//	--tls-cert FILE        serve HTTPS with this certificate chain (PEM) ...
//	--tls-key FILE         ... and its private key (PEM); each a regular file of at most 1 MiB,
//	                       the key one that other users cannot read or write (chmod 600)
//	--state-dir DIR        keep plans, runs and journals in DIR (required)
//	--resume               at start, resume the runs that a stop or crash interrupted
//
// Every call but GET /healthz, GET /metrics included, must carry the header
// "Authorization: Bearer TOKEN"; a call without it, or with another token,
// gets 401 {"error": "...", "kind": "unauthorized"} and a WWW-Authenticate
// header, and a token in the URL is ignored. On a loopback address with
// neither --token-file nor STACKUP_TOKEN, serve makes up a token (32 random
// bytes, base64url) and, once it listens (on an address that is loopback
// as bound: a name such as localhost that resolves elsewhere is refused),
// prints it once on standard error:
//
//	stackup serve: token: 3q2-7w…
//
// To keep it out of logs, or to listen on another address, give one:
//
//	head -c 32 /dev/urandom | base64 > token && chmod 600 token
//	stackup serve … --token-file token --state-dir /var/lib/stackup
//	curl -H "Authorization: Bearer $(cat token)" -H 'Content-Type: application/json' \
//	     -d @requests.json http://127.0.0.1:8080/v1/plans
//
// GET / serves a dashboard, embedded in the binary (no CDN, nothing to
// build): the runs, and for the run chosen its plan as text and as a
// picture of its steps (GET /v1/plans/ID/graph.svg, drawn by the server:
// a column per level, a box per step coloured by kind, a dot per
// barrier; above 500 steps the first levels only, saying so), with each
// step's state updating live from the run's event stream. The page and
// its script and style (/ui/...) hold no data and need no token; the page
// asks for the token once, keeps it in the browser tab (sessionStorage)
// and sends it as the Authorization header with every call. It is served
// with a strict Content-Security-Policy (no inline script or style, no
// framing) and puts what the server says into the page as text only.
//
// The server answers only requests whose Host is localhost, a loopback
// address, the --listen host or an --allow-host name; others, such as
// those of a web page whose name an attacker points at this machine (DNS
// rebinding), get 421 {"kind": "host_not_allowed"}. It refuses with 403
// {"kind": "cross_origin"} a POST that a browser marks as sent from
// another origin (Sec-Fetch-Site, or an Origin other than the Host), and
// with 415 {"kind": "unsupported_media_type"} a POST, to any route, whose
// Content-Type is not application/json (in UTF-8: with no charset, or
// charset=utf-8), such as the text/plain and form bodies that web pages
// can post (a POST without a body may leave
// Content-Type out). None of these refusals plans or runs anything. Without
// --tls-cert the token crosses the network in the clear: on an address
// other than loopback, use TLS, or a network you trust.
//
// The API speaks JSON. Every error answer, unknown routes (404
// {"kind": "not_found"}) and wrong methods (405 {"kind":
// "method_not_allowed"}, with an Allow header) included, is
// {"error": "...", "kind": K}. IDs in paths are checked before use: a plan
// ID is "sha256:" and 64 lower-case hex digits, a run ID 26 characters
// A-Z and 2-7; anything else is 404 {"kind": "not_found"}. The calls on
// a plan or run ID (apply, cancel, resume) take no fields: their body is
// empty or {}, and any other is 400 {"kind": "invalid_request"}, naming
// the field, rather than ignored.
//
//	POST /v1/plans   body {"requests": [...]} (the request file's shape, at most 1 MiB;
//	                 a UTF-8 byte-order mark before it, as an editor may save it, is skipped)
//	                 plans the requests as the run flags will run them (--canaries and
//	                 --max-in-flight applied) and keeps the plan in the state directory
//	                 201: {"id": PLAN_ID, "text": the plan as text, "plan": the plan
//	                      (schema stackup.plan/v3)}, Location /v1/plans/PLAN_ID
//	                 400: {"kind": "invalid_request"}: malformed JSON, unknown fields
//	                      (keys match fields exactly, case included), a field given
//	                      twice, bad versions or constraints, incomplete requests
//	                 413: {"kind": "too_large"}
//	                 415: {"kind": "unsupported_media_type"}
//	                 422: {"kind": K}: no plan is possible, K one of conflict,
//	                      no_package, no_upgrade_path, downgrade, cycle, not_found
//	                 502: {"kind": "repository"}: the repository failed: down, unreachable,
//	                      an answer other than its files, no index, an untrusted index
//	GET /v1/plans/PLAN_ID
//	                 200: the same as POST /v1/plans; 404: no such plan
//	POST /v1/plans/PLAN_ID/apply
//	                 runs exactly that plan in the background, only if the topology
//	                 still has the versions it starts from (the stale check is
//	                 always on in serve, as for apply PLANFILE: a plan applied
//	                 again is refused, not run again)
//	                 202: {"run": RUN, "plan": PLAN_ID, "events": "/v1/runs/RUN/events"},
//	                      Location /v1/runs/RUN
//	                 404: no such plan
//	                 409: {"kind": "stale"}: a node's version is not the one the plan
//	                      starts from; nothing ran: post the requests again
//	                 409: {"kind": "busy", "run": OTHER}: a run for one of the
//	                      applications the plan changes is still going; one run per
//	                      application at a time; or a run going on would break what
//	                      the plan relies on, or the reverse: a new template that one
//	                      deploys requires, of a node beneath (a shared Tomcat), a
//	                      version the other takes that node out of
//	POST /v1/plan    one-call shortcut: the body of POST /v1/plans; 200: the plan
//	                 (schema stackup.plan/v3), without rolling it out or keeping it
//	POST /v1/apply   one-call shortcut: POST /v1/plans, then apply; answers as apply
//	GET /v1/runs     200: {"runs": [status, ...]}, newest first: the runs in
//	                 progress, the interrupted ones and the last 100 ended
//	GET /v1/runs/RUN 200: the run's status:
//	                 {"run", "plan", "applications", "state", "total", "succeeded",
//	                  "failed", "skipped", "rolled_back", "error", "started",
//	                  "finished", "steps": {STEP_ID: step state}}
//	                 state: running, succeeded, failed, cancelled or interrupted;
//	                 started and finished: RFC 3339 times (finished absent while it
//	                 runs); a step state: pending, running, succeeded, failed,
//	                 skipped, rolled_back, not_started (the run ended first) or
//	                 in_doubt (started, and the run stopped before it finished)
//	                 404: unknown run
//	POST /v1/runs/RUN/cancel
//	                 stops a run in progress: its running steps are cancelled (their
//	                 commands get SIGTERM) and it ends "cancelled"
//	                 202: {"run", "plan", "events"}; 409 {"kind": "not_running"}
//	POST /v1/runs/RUN/resume
//	                 resumes a run interrupted, failed or cancelled, under the same
//	                 ID, from its journal (see the state directory above)
//	                 202: as apply; 409 {"kind": "not_resumable"}: running or
//	                 succeeded, or its plan removed from the state directory;
//	                 409 {"kind": "busy"}; 409 {"kind": "stale"}: a node
//	                 of a step not done has moved from the version the plan starts
//	                 from (the steps done may be at either end); nothing ran
//	GET /v1/runs/RUN/events
//	                 text/event-stream: every event of the run this server has seen
//	                 (a restarted one saw none before), then live ones, each "event: step" with data {"kind",
//	                 "step", "node", "done", "total", "time", "in_doubt", "error"},
//	                 kind one of started, retrying, succeeded, failed, skipped,
//	                 rolled_back, rollback_failed (a step left in place, error
//	                 saying why), or (with --database) waiting: the step, still
//	                 pending, waits for another run's step on its node; time
//	                 RFC 3339 with milliseconds, in_doubt true on
//	                 the start of a step offered again after an interruption; and
//	                 last "event: done" with the status above. A comment line
//	                 ": keep-alive" comes after 15 s without an event; a client
//	                 that reads nothing for a minute is let go. The server keeps
//	                 at most 100 streams open: one more is 503
//	                 {"kind": "too_many_streams"}, with Retry-After.
//	                 Each step event has an ID; Last-Event-ID resumes after that
//	                 event, and an ID this server did not give (one from before
//	                 a restart) replays every event it has seen of the run.
//	GET /metrics     Prometheus text format, with the token like every call:
//	                 stackup_runs_total{outcome}, stackup_runs_in_progress,
//	                 stackup_steps_total{state}, stackup_step_duration_seconds
//	                 (histogram), and the Go and process collectors
//	GET /healthz     200: {"status": "ok"}, without a token
//
// # Exit codes
//
//	0  success (and help)
//	1  the run failed: a step failed or was rolled back, the prefetch or the stale
//	   check refused to start, the journal is locked (or serve's --state-dir), the
//	   run (or the read of the repository before it, by plan too) was interrupted,
//	   the confirmation was not given, a version could not be recorded in the
//	   topology file; or the server failed
//	2  usage (stackup without arguments too), or an input that cannot be read or is invalid: a topology, request,
//	   key, repository (unreadable, malformed, unsigned or badly signed with
//	   --key), command (--exec and the like), or a journal written for another plan
//	3  no plan is possible: a conflict, no package, no upgrade path, a downgrade
//	   refused, a cycle, a missing application, template or node
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes; see the package doc.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitNoPlan  = 3
	programName = "stackup"
)

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr, os.Exit))
}

// runMain runs stackup with args as main does, turning SIGINT and SIGTERM
// into a stop and then an exit; see interrupts.
func runMain(args []string, stdout, stderr io.Writer, exit func(int)) int {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	stop := interrupts(sigs, done, stderr, exit)
	return run(withStdin(withStop(context.Background(), stop), os.Stdin), args, stdout, stderr)
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"plan", "print the plan for upgrade requests", runPlan},
		{"apply", "plan and run an upgrade, a command per step", runApply},
		{"serve", "run a deployment server with an HTTP API", runServe},
		{"worker", "run the steps of runs kept in a PostgreSQL database", runWorker},
	}
}

// run runs stackup with args (without the program name) and returns the
// exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name, rest := args[0], args[1:]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(rest) == 0 || rest[0] == "help" { // usage lists help as a command
			usage(stdout)
			return exitOK
		}
		for _, c := range commands() {
			if c.name == rest[0] {
				return c.run(ctx, []string{"--help"}, stdout, stderr)
			}
		}
		fmt.Fprintf(stderr, "%s help: unknown command %q\n\n", programName, rest[0])
		usage(stderr)
		return exitUsage
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, rest, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "%s: unknown command %q\n\n", programName, name)
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "%s plans and runs platform-first upgrades.\n\nUsage:\n\n", programName)
	fmt.Fprintf(w, "  %s <command> [flags]\n\nCommands:\n\n", programName)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-6s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "  %-6s %s\n", "help", "print this, or a command's flags: help <command>")
	fmt.Fprintf(w, "\nExit codes: 0 success, 1 the run failed, 2 usage or invalid input, 3 no plan possible.\n")
	fmt.Fprintf(w, "Run '%s <command> --help' for a command's flags.\n", programName)
}

// exitError is an error with the exit code it calls for.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErr, inputErr and failedErr mark an error with its exit
// code.
func usageErr(format string, a ...any) error {
	return &exitError{exitUsage, fmt.Errorf(format, a...)}
}
func inputErr(err error) error  { return &exitError{exitUsage, err} }
func failedErr(err error) error { return &exitError{exitFailed, err} }

// report prints err for command cmd and returns its exit code: the one
// it is marked with, or 1. What a command wrote may be in err: its
// terminal escapes and other control characters are printed escaped
// (topology.Printable), its line breaks and tabs kept.
func report(stderr io.Writer, cmd string, err error) int {
	warn(stderr, cmd, err)
	if e, ok := errors.AsType[*exitError](err); ok {
		return e.code
	}
	return exitFailed
}

// warn prints err on stderr, as report does, without ending anything:
// its text may hold a path or an ID, printed with control characters
// escaped.
func warn(stderr io.Writer, cmd string, err error) {
	fmt.Fprintf(stderr, "%s %s: %s\n", programName, cmd, printableLines(err.Error()))
}
