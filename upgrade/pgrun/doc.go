// Package pgrun runs upgrade plans with many workers over PostgreSQL.
//
// A [Store] keeps runs in a schema the caller names, created and migrated
// by [Open]. [Store.Submit] stores a plan and the settings upgrade.Run
// takes ([Options]); any number of workers, in any number of processes
// and hosts, call [Store.Work] with their own upgrade.Executor and run its
// steps: each claims a ready step under a lease it renews, executes it
// through upgrade.Run (so retries, timeouts, Verify and upgrade.InDoubt
// mean what they mean there), and records the outcome and its
// consequences in one transaction. The run's concurrency limit holds
// across all workers. A step whose worker is lost goes back to the others
// once its lease expires, in doubt; the lost worker, fenced by the lease's
// token, can record nothing. A claim or a record of an outcome whose
// reply is lost with its connection, though it committed, is sent again
// and finds what it did: the step it took, the outcome it recorded.
// [Store.Status], [Store.Events] and [Store.Cancel] serve any process.
// [Store.Retry] takes up a finished run that did not succeed, as a
// journal resumes upgrade.Run: the steps done are not run again.
//
// Steps are claimed by PL/pgSQL functions in the schema, one round trip
// each: claims of one run take turns on the run's row (SELECT … FOR
// UPDATE), which is what keeps the run's concurrency limit, and a step
// whose lease expired is taken over with FOR UPDATE SKIP LOCKED. River's
// jobs are not used: open-source River limits concurrency only per client
// (QueueConfig.MaxWorkers), not across clients; it rescues a stuck job
// after a fixed time from its start (Config.RescueStuckJobsAfter), with
// no lease to renew; and it completes a job on its state alone, not on
// the attempt that claimed it, so a worker whose job was rescued and
// claimed again could still complete it.
//
// A plan's barriers are vertices of their own, rows beside its steps: a
// barrier passes in the transaction in which the last step it waits for
// succeeds, and is skipped when one fails, so that a rolled plan costs
// rows in proportion to its steps, not to the product of its batches.
//
// A step holds a lock on its node while it runs, and so does a step's
// rollback while it is undone, across all the runs of the schema: two runs whose steps touch one node never run those steps
// at once; the second takes other ready steps meanwhile, and the one
// waiting starts once the lock is free, having had one event of kind
// upgrade.StepWaiting naming the node and the step holding it (again for
// each new holder, not each time its workers look). (Two steps of one run on one node
// wait for each other too, as in upgrade.Run; the planner orders such
// steps anyway.) A step whose Execute, Verify or
// Rollback ignored its context past the grace period is recorded failed,
// abandoned, as upgrade.Run reports it, but keeps its node locked until
// that call has returned, its worker renewing the lock meanwhile; the
// lock of a worker lost lapses after its lease.
//
// With Options.Rollback, a run over with a failed step is rolled back by
// its workers whose Executor is an upgrade.Rollbacker: one step at a
// time, last completed first, a step kept while a step after it could not
// be undone, as upgrade.Run does. A rollback whose worker is lost is
// offered again once the lease expires, in doubt (upgrade.WithInDoubt), as
// a step is; WorkerOptions.GracePeriod bounds a Rollback that ignores its
// context as it bounds Execute. A step undone gets an event of kind
// upgrade.StepRolledBack, and one left in place an event of kind
// upgrade.StepRollbackFailed with the reason, as with upgrade.Run.
//
// A conformance suite (conformance_test.go) runs small plans through both
// upgrade.Run and this package and requires the same outcomes and events
// (in the same order, one step at a time). They differ for a step taken
// over from a lost worker: its Outcome.Attempts and its events' Attempt
// count the lost worker's attempt, and so does its retry budget
// (Options.Attempts, though a step taken over makes one attempt at
// least), where upgrade.Run resumed from a journal that recorded the
// step started counts its attempts afresh.
//
// Workers wait for work on PostgreSQL's LISTEN/NOTIFY: the transaction
// that submits a run, finishes a step (freeing its node and its slot, and
// making the steps after it ready), or cancels, stops or ends a run
// notifies the schema's channel, whose name is a hash of the schema's; a
// Store listens on one connection of its own while Work or Wait calls are
// under way, and they fall back to polling (WorkerOptions.Poll) while
// that connection is lost. A notification wakes one waiting slot of each
// run the process works on, which wakes the next of its run once it has
// claimed a step, so that a step finished does not send every idle slot
// of the process to the database at once; and it wakes every Wait call
// on each run, which claims nothing and passes nothing on. A worker
// also looks again when a lease of its run expires, to take the step
// over. WorkerOptions.Drain stops a worker claiming steps, letting those
// it runs finish.
package pgrun
