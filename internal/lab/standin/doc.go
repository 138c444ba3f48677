// Package standin is the irischaos IRIS stand-in: a small database with
// InterSystems IRIS's command-line surface and IRIS's journal durability
// model, used where IRIS images cannot be pulled. It always names itself
// (Product, Version) in $ZVERSION and `iris qlist`, so no report can
// mistake it for InterSystems IRIS.
//
// # Pieces
//
//   - engine: globals in memory; every update appended to a journal buffer;
//     the database file; recovery; the data directory lock.
//   - objectscript: parser and interpreter for the ObjectScript the harness
//     and the seed scripts send, and the `iris session` terminal loop.
//   - instance: the instance daemon (engine + sessions on a unix socket),
//     its state files, `iris qlist|start|stop|force` and the CPF merge file.
//   - internal/lab/cmd/iris, iris-main: the binaries; internal/lab/image puts them in an image.
//
// # Processes
//
// iris-main (the container's PID 1) registers the instance "iris" (data
// directory $ISC_DATA_DIRECTORY, merge file $ISC_CPF_MERGE_FILE) in the
// container-local run directory ($IRISCHAOS_RUN_DIR, /run/irissys in the
// image) and starts the daemon, the iris binary re-executed as
// `iris __instance iris`. `iris session` connects to the daemon's socket;
// `iris stop iris quietly` asks it to shut down gracefully; `iris force
// iris` SIGKILLs it; `iris start iris` starts a detached daemon that PID 1
// reaps. After stop or force iris-main stays up, so the liveness probe
// `iris qlist iris | grep running` fails and the kubelet restarts the
// container. SIGTERM to iris-main stops the instance gracefully and exits 0.
//
// # Durability
//
// Every update is applied in memory and appended to the journal buffer
// (records framed with length and CRC-32C). The buffer is written and
// fsynced to the journal file every 2 s, when it exceeds jrnbufs, and at
// TCOMMIT with SynchCommit=1 (with SynchCommit=0 a commit requests a flush
// and does not wait). The database file mgr/IRIS.DAT is rewritten every 30 s
// and at shutdown (flush, switch to a new journal file, write, fsync,
// rename, delete older journals). Startup replays the journals newer than
// the database file, drops a torn last record, and rolls back transactions
// without TCOMMIT; $INCREMENT is journaled outside the transaction and is
// never rolled back, as in IRIS. A SIGKILL therefore loses exactly the
// updates still in the buffer. The last completed flush is recorded in the
// run directory (iris.flush: when its buffer was captured and when it was
// durable), so a test can tell which acknowledged writes must survive.
//
// One instance at a time per data directory: an flock on mgr/iris.lck. A
// second instance waits, says so in messages.log and in qlist's status
// ("starting, waiting for the data directory lock held by pid=... host=..."),
// and starts once the lock is free: the stand-in's model of a ReadWriteOnce
// volume still attached elsewhere.
//
// # CPF merge file
//
//	[config]        jrnbufs=MB                       journal buffer (default 64)
//	[Miscellaneous] SynchCommit=0|1                  synchronous commit (default 0)
//	[Journal]       StandinFlushInterval=seconds     journal write cycle (default 2;
//	                                                 stand-in only, IRIS's is fixed)
//	[Journal]       StandinCheckpointInterval=seconds database file rewrite (default 30)
//
// Other settings (globals=, gmheap=, ...) are accepted and ignored; a
// malformed line stops the instance with the line number.
//
// # ObjectScript
//
// Commands: set (also set (a,b)=v), write (!, #, ?n, comma lists), zwrite,
// kill, for (argumentless, var=start:inc[:end], var=list), if, quit, halt,
// hang, tstart, tcommit, trollback, znspace, try { } catch { } (argumentless
// CATCH only; $ZERROR holds the error), postconditionals (cmd:cond) and
// ; comments. Operators: strictly left to right, as ObjectScript: + - * /
// \ # ** _ = < > [ ] ]] & ! && || and their ' negations. Functions:
// $increment, $data, $order (one level, both directions), $get, $length,
// $piece, $extract, $char, $ascii, $justify, $select, $zdatetime/$zdate
// (date formats 1, 2, 3, 4, 8; time formats 1-4; precision), special
// variables $horolog, $ztimestamp (UTC, microseconds), $zversion, $zerror,
// $job, $tlevel, $namespace, $x, $system.INetInfo.LocalHostName(), and
// $system.License.LUAvailable(), LUConsumed() (strict mode's units with
// LicenseUnitsEnv, else 1024 less the sessions running) and KeyCustomerName()
// (the stand-in's name). Class
// methods (with do, or as `iris session` COMMAND, which IRIS runs with DO):
// ##class(%SYSTEM.Process).Terminate(,n) (exit status n),
// ##class(Backup.General).ExternalFreeze() / ExternalThaw() (flush and
// checkpoint, then no database file writes until thawed; exit status 5
// done, 3 failed, as the seed's backup script expects) and
// IsExternallyFrozen(). Anything
// else is a <SYNTAX> error. Namespaces are USER and %SYS, each with
// its own globals. Numbers are float64 with 15 significant digits in
// canonical form (IRIS has 18-digit decimals); strings are capped at IRIS's
// 3,641,144 characters.
//
// # Session output
//
// Piped sessions print IRIS's banner ("Node: HOST, Instance: IRIS"), a
// prompt "USER>" before each line, a newline before the prompt when the
// line's output did not end with one, and errors as "<UNDEFINED> *x". In
// strict mode (instance.StrictEnv=1; instance.LicenseUnitsEnv then limits
// concurrent sessions, "<LICENSE LIMIT EXCEEDED>"; instance.PasswordLoginEnv=1
// makes every session ask "Username: " and "Password: " after the banner and
// deny access) they print as IRIS does: an error as the whole
// offending source line, a caret line under the failing command, then the
// error; the prompt "TL1:USER>" inside a transaction. A session against a
// down instance exits 1 with the reason on stderr; the session exits 0 after
// HALT or at the end of its input, and 1 when a COMMAND argument fails.
package standin
