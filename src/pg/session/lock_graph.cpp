// Lock safety of the admission queue (issue 16, defect 8): a queued backend
// may be admitted past the limit only when a slot holder waits for it,
// directly or transitively, through heavyweight-lock waits. A lock waiter
// that no slot holder depends on (an exempt superuser's DDL, say) cannot
// close a cycle with the queue: the slot holders finish, slots free up and
// the queued lock holders run in turn.
//
// The walk reads PostgreSQL's shared lock table the way deadlock.c does,
// but under every partition lock in shared mode (deadlock.c takes them
// exclusively): holders and waiters cannot change underneath, and ordinary
// lock traffic, which takes one partition at a time, is held up only for
// the walk. Nothing here errors or allocates while those locks are held;
// the workspace is allocated once per backend, before.
#include "postgres.hpp"

#include "session/lock_graph.hpp"

extern "C" {
#include "lib/ilist.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/memutils.h"
}

#include "locks.hpp"
#include "compat.hpp"
#include "session/connection.hpp"
#include "shmem.hpp"

#include "poolgov/atomics.hpp"

#include <algorithm>

namespace poolgov::pg {

namespace {

// Per-backend workspace, sized once: the pids of the slot holders (one per
// admission entry at most), the walk's queue and its visited marks (one per
// PGPROC at most: a process is queued once).
int32_t *holders = nullptr;
int *queue = nullptr;
bool *seen = nullptr;
int n_procs = 0;

void prepare_workspace()
{
    if (seen != nullptr)
        return;
    int n_entries = shm.admission.n;
    int procs = static_cast<int>(ProcGlobal->allProcCount);
    holders = static_cast<int32_t *>(
        MemoryContextAlloc(TopMemoryContext, sizeof(int32_t) * std::max(n_entries, 1)));
    queue = static_cast<int *>(MemoryContextAlloc(TopMemoryContext, sizeof(int) * procs));
    seen = static_cast<bool *>(MemoryContextAllocZero(TopMemoryContext, sizeof(bool) * procs));
    n_procs = procs;
}

// Pids of the backends that hold the kind of slot this one waits for,
// sorted: a running entry for a normal waiter; an entry with a heavy-lane
// slot for a waiter that runs already and waits for the heavy lane (a heavy
// slot holder also holds a normal one, so any cycle through the queue still
// has a holder of the kind its queued member waits for). Read without the
// admission lock: a holder that starts or ends meanwhile is seen at the next
// tick; an entry's pid is written at login, before it can ever run.
int collect_holders()
{
    constexpr auto running = static_cast<uint32_t>(AdmState::Running);
    const AdmissionEntry *entries = shm.admission.entries;
    int mine = static_cast<int>(my_slot - shm.slots);
    bool heavy_only = atomic::load_acquire(entries[mine].state) == running;
    int n = 0;
    for (int i = 0; i < shm.admission.n; ++i) {
        if (i == mine || atomic::load_acquire(entries[i].state) != running)
            continue;
        if (heavy_only &&
            atomic::load(entries[i].heavy) != static_cast<uint8_t>(HeavyState::Running))
            continue;
        int32_t pid = atomic::load(shm.slots[i].pid);
        if (pid != 0)
            holders[n++] = pid;
    }
    std::sort(holders, holders + n);
    return n;
}

// A parallel worker waits and holds on behalf of its leader.
PGPROC *leader_of(PGPROC *proc)
{
    return proc->lockGroupLeader != nullptr ? proc->lockGroupLeader : proc;
}

struct Walk {
    int n_holders;
    int tail;
    bool found;
};

void visit(Walk &w, PGPROC *proc)
{
    PGPROC *leader = leader_of(proc);
    int no = compat::proc_number(leader);
    if (no < 0 || no >= n_procs || seen[no])
        return;
    seen[no] = true;
    queue[w.tail++] = no;
    if (leader->pid != 0 && std::binary_search(holders, holders + w.n_holders, leader->pid))
        w.found = true;
}

// The waiters of `lock` that conflict with `mask`, outside group `node`.
// With `after` set, only those queued behind it (soft edges).
void visit_waiters(Walk &w, PGPROC *node, LOCK *lock, LOCKMASK mask, PGPROC *after)
{
    LockMethod method = GetLocksMethodTable(lock);
    bool behind = after == nullptr;
    compat::for_each_lock_waiter(lock, [&](PGPROC *proc) {
        if (proc == after)
            behind = true;
        else if (behind && leader_of(proc) != node &&
                 (method->conflictTab[proc->waitLockMode] & mask) != 0)
            visit(w, proc);
        return w.found;
    });
}

// Everyone who waits for process `member` of group `node`: the waiters of
// the locks it holds, in conflicting modes (hard edges), and those behind
// it in the queue of the lock it waits for, with a conflicting request
// (soft edges).
void visit_waiters_of(Walk &w, PGPROC *node, PGPROC *member)
{
    for (int part = 0; part < NUM_LOCK_PARTITIONS && !w.found; ++part)
        compat::for_each_proclock(member, part, [&](PROCLOCK *pl) {
            LOCK *lock = pl->tag.myLock;
            if (pl->holdMask != 0 && compat::lock_waiter_count(lock) > 0)
                visit_waiters(w, node, lock, pl->holdMask, nullptr);
            return w.found;
        });
    LOCK *awaited = member->waitLock;
    if (awaited != nullptr && !w.found)
        visit_waiters(w, node, awaited, LOCKBIT_ON(member->waitLockMode), member);
}

}  // namespace

bool slot_holder_waits_for_me()
{
    if (my_slot == nullptr)
        return false;
    prepare_workspace();
    Walk w{collect_holders(), 0, false};
    if (w.n_holders == 0)
        return false;  // nobody holds a slot: nothing to wait for us with it

    for (int part = 0; part < NUM_LOCK_PARTITIONS; ++part)
        lock_acquire(LockHashPartitionLockByIndex(part), LW_SHARED);
    visit(w, MyProc);  // never a holder: collect_holders() leaves us out
    for (int head = 0; head < w.tail && !w.found; ++head) {
        PGPROC *node = GetPGProcByNumber(queue[head]);
        if (node->lockGroupLeader == nullptr) {
            visit_waiters_of(w, node, node);
            continue;
        }
        // dlist_foreach by hand: its type assertions are C only.
        dlist_head *members = &node->lockGroupMembers;
        for (dlist_node *cur = members->head.next;
             cur != nullptr && cur != &members->head && !w.found; cur = cur->next)
            visit_waiters_of(w, node,
                             reinterpret_cast<PGPROC *>(reinterpret_cast<char *>(cur) -
                                                        offsetof(PGPROC, lockGroupLink)));
    }
    for (int part = NUM_LOCK_PARTITIONS; --part >= 0;)
        lock_release(LockHashPartitionLockByIndex(part));

    for (int i = 0; i < w.tail; ++i)
        seen[queue[i]] = false;
    return w.found;
}

}  // namespace poolgov::pg
