# Admission control must not change what a client's transactions commit.
# The same randomly generated client scripts (a fixed seed; override with
# POOLGOV_DIFF_SEED) run twice from 6 concurrent clients of a plain role:
# once with admission control off, once with 2 slots and a 300 ms
# admission_timeout, so that many statements wait and some waits fail.
#
# Every transaction writes rows tagged with its own id. A model of
# PostgreSQL's transaction blocks (savepoints, aborted blocks, COMMIT of an
# aborted block, implicit statements) replays each script with the errors
# the client saw (psql -f names the line of every error) and says what it
# must have committed. It also says where a statement may take a slot: an
# admission error (53000, or 57014 from statement_timeout during the wait)
# anywhere else is a failure, BEGIN included. With admission control off,
# the errors must be exactly the scripts' own (the model checked against
# PostgreSQL); with it on, only slot waits may add errors, and:
# (1) transactions without an error in either run commit the same rows;
# (2) a block whose wait failed outside a savepoint commits nothing;
# (3) afterwards nothing runs or waits;
# (4) the admission run did wait and did time out (else it proves nothing).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PoolgovTest;

my $seed = $ENV{POOLGOV_DIFF_SEED} // 221;
my $n_clients = 6;
my $n_tx = $ENV{POOLGOV_DIFF_TX} // 30;    # transactions per client
diag("seed $seed (set POOLGOV_DIFF_SEED to change it), $n_clients clients x $n_tx transactions");
srand($seed);

my $node = poolgov_node('differential', conf => q{
poolgov.max_active_transactions = 0
poolgov.admission_timeout = 300ms
poolgov.admission_idle_timeout = 0
deadlock_timeout = 100ms
});
$node->safe_psql('postgres', qq{
	CREATE ROLE app LOGIN;
	CREATE TABLE ledger (txid int NOT NULL, step int NOT NULL, val int NOT NULL, kind text NOT NULL);
	CREATE TABLE counters (client int PRIMARY KEY, n bigint NOT NULL);
	INSERT INTO counters SELECT g, 0 FROM generate_series(1, $n_clients) g;
	GRANT ALL ON ledger, counters TO app;
});

# ---------------------------------------------------------------------------
# The scripts. A statement: { k => kind, sql, rows => ['step:val:kind', ...],
# ctr => counter increment, code => SQLSTATE of its own error }. Kinds:
# begin commit rollback savepoint release rollback_to (transaction control),
# exec (a statement run by the executor), fail (one that always fails with
# `code`), util (SET LOCAL, a utility statement inside a block), session
# (SET/RESET outside a block: no slot, no error).

sub chance { return rand() < $_[0] }

sub gen_tx
{
	my ($c, $T) = @_;
	my $step = 0;
	my @s;
	my $sp = 0;
	my $wrap = chance(0.15);    # a session statement_timeout (250 ms) around the transaction
	my $hold = $wrap ? 0.1 : 0.3;

	my $write = sub {
		my ($ro) = @_;
		my $v = int(rand(1000));
		my $inc = 1 + int(rand(9));
		my $st = ++$step;
		my $form = int(rand(5));
		my ($sql, @rows, $ctr);
		if ($form == 0)
		{
			$sql = "INSERT INTO ledger (txid, step, val, kind) VALUES ($T, $st, $v, 'i');";
			@rows = ("$st:$v:i");
		}
		elsif ($form == 1)
		{
			$sql = "EXECUTE ins_p($T, $st, $v);";
			@rows = ("$st:$v:p");
		}
		elsif ($form == 2)
		{
			$sql = "WITH u AS (UPDATE counters SET n = n + $inc WHERE client = $c RETURNING n) "
			  . "INSERT INTO ledger (txid, step, val, kind) SELECT $T, $st, $inc, 'c' FROM u;";
			@rows = ("$st:$inc:c");
			$ctr = $inc;
		}
		elsif ($form == 3)
		{
			$sql = "UPDATE counters SET n = n + $inc WHERE client = $c;";
			$ctr = $inc;
		}
		else
		{
			$step += 2;
			$sql = "INSERT INTO ledger (txid, step, val, kind) SELECT $T, $st + g, $v + g, 'm' FROM generate_series(0, 2) g;";
			@rows = map { ($st + $_) . ':' . ($v + $_) . ':m' } 0 .. 2;
		}
		return { k => 'fail', code => '25006', sql => $sql } if $ro;
		return { k => 'exec', sql => $sql, rows => \@rows, ctr => $ctr // 0 };
	};
	# Reads; the sleeps hold the slot so that others wait.
	my $read = sub {
		my $t = sprintf('%.2f', 0.03 + rand($hold));
		my $form = int(rand(4));
		my $sql = $form == 0 ? "SELECT pg_sleep($t);"
		  : $form == 1 ? "EXECUTE hold($t);"
		  : $form == 2 ? "SELECT pg_sleep($t), count(*) FROM ledger WHERE txid = $T;"
		  : "SELECT n FROM counters WHERE client = $c;";
		return { k => 'exec', sql => $sql, rows => [], ctr => 0 };
	};
	# Errors of the script's own, inside a block: division by zero at plan
	# time or at run time, a statement timeout set locally.
	my $fail = sub {
		my ($ro) = @_;
		my $form = int(rand(3));
		return { k => 'fail', code => '22012', sql => 'SELECT 1 / 0;' } if $form == 0;
		return { k => 'fail', code => $ro ? '25006' : '22012',
			sql => "UPDATE counters SET n = n / 0 WHERE client = $c;" } if $form == 1;
		return ({ k => 'util', sql => "SET LOCAL statement_timeout = '50ms';" },
			{ k => 'fail', code => '57014', sql => 'SELECT pg_sleep(0.3);' });
	};
	my $item;
	$item = sub {
		my ($ro, $depth) = @_;
		my $r = rand();
		return $write->($ro) if $r < ($ro ? 0.1 : 0.45);    # (fails in a read-only block)
		return $read->() if $r < 0.75;
		return $fail->($ro) if $r < 0.83;
		# A savepoint, its statements, and how it ends.
		my $name = 's' . ++$sp;
		my @g = ({ k => 'savepoint', name => $name, sql => "SAVEPOINT $name;" });
		my $failed = 0;
		for (1 .. 1 + int(rand(3)))
		{
			if (chance(0.25)) { push @g, $fail->($ro); $failed = 1 }
			elsif ($depth < 1 && chance(0.15)) { push @g, $item->($ro, $depth + 1) }
			else { push @g, chance(0.6) && !$ro ? $write->(0) : $read->() }
		}
		my $end = rand();
		my @back = ({ k => 'rollback_to', name => $name, sql => "ROLLBACK TO SAVEPOINT $name;" });
		my @release = ({ k => 'release', name => $name, sql => "RELEASE SAVEPOINT $name;" });
		if ($failed)
		{
			push @g, $end < 0.5 ? @back : $end < 0.85 ? (@back, @release) : ();
		}
		else
		{
			push @g, $end < 0.45 ? @release : $end < 0.7 ? @back : $end < 0.85 ? (@back, @release) : ();
		}
		# After the savepoint, more work at the outer level.
		push @g, $write->($ro) if chance(0.5) && !$ro;
		return @g;
	};

	push @s, { k => 'session', sql => "SET statement_timeout = '250ms';" } if $wrap;
	if (chance(0.3))
	{
		for (1 .. 1 + int(rand(2)))
		{
			my $r = rand();
			if ($r < 0.5) { push @s, $write->(0) }
			elsif ($r < 0.75) { push @s, $read->() }
			elsif ($r < 0.9 || $wrap)
			{
				push @s, chance(0.5) ? { k => 'fail', code => '22012', sql => 'SELECT 1 / 0;' }
				  : { k => 'fail', code => '22012', sql => "UPDATE counters SET n = n / 0 WHERE client = $c;" };
			}
			else
			{
				push @s, { k => 'session', sql => "SET statement_timeout = '50ms';" },
				  { k => 'fail', code => '57014', sql => 'SELECT pg_sleep(0.3);' },
				  { k => 'session', sql => 'RESET statement_timeout;' };
			}
		}
		push @s, { k => 'session', sql => 'RESET statement_timeout;' } if $wrap;
		return { txid => $T, client => $c, type => 'implicit', stmts => \@s };
	}
	my @begins = ('BEGIN;', 'START TRANSACTION;', 'BEGIN ISOLATION LEVEL REPEATABLE READ;',
		'BEGIN ISOLATION LEVEL READ COMMITTED READ WRITE;', 'BEGIN TRANSACTION;');
	my $ro = chance(0.15);
	push @s, { k => 'begin', sql => $ro
		  ? (chance(0.5) ? 'BEGIN READ ONLY;' : 'START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;')
		  : $begins[ int(rand(@begins)) ] };
	push @s, $item->($ro, 0) for 1 .. 1 + int(rand(5));
	my $end = rand();
	push @s, $end < 0.65 ? { k => 'commit', sql => 'COMMIT;' }
	  : $end < 0.75 ? { k => 'commit', sql => 'END;' }
	  : { k => 'rollback', sql => 'ROLLBACK;' };
	push @s, { k => 'session', sql => 'RESET statement_timeout;' } if $wrap;
	return { txid => $T, client => $c, type => 'block', stmts => \@s };
}

# One script per client; every statement on its own line, so the line an
# error names is the statement that raised it.
my (@files, %line_of, %tx);
for my $c (1 .. $n_clients)
{
	my @lines = ('\set VERBOSITY verbose',
		q{PREPARE ins_p (int, int, int) AS INSERT INTO ledger (txid, step, val, kind) VALUES ($1, $2, $3, 'p');},
		'PREPARE hold (float8) AS SELECT pg_sleep($1);');
	for my $k (1 .. $n_tx)
	{
		my $t = gen_tx($c, $c * 1000 + $k);
		$tx{ $t->{txid} } = $t;
		push @lines, "\\warn TX $t->{txid}";
		for my $i (0 .. $#{ $t->{stmts} })
		{
			push @lines, $t->{stmts}[$i]{sql};
			$line_of{$c}{ scalar @lines } = [ $t->{txid}, $i ];
		}
	}
	push @lines, '\warn END';
	my $file = $node->basedir . "/client$c.sql";
	append_to_file($file, join("\n", @lines) . "\n");
	push @files, $file;
}

# ---------------------------------------------------------------------------
# The model: replays a transaction's statements with the errors observed
# (index => SQLSTATE of the first ERROR on its line). Returns what it
# committed (sorted rows, counter increment), the problems found, and
# whether an admission error struck a block outside any savepoint.
sub simulate
{
	my ($t, $errs, $admission, $contexts) = @_;
	my (@problems, @committed);
	my ($ctr, $in_block, $aborted, $has_slot, $outside_sp) = (0, 0, 0, 0, 0);
	my @levels;    # [0]: the block; then one per savepoint { name, rows, ctr }
	my $flat = sub {
		my ($from) = @_;
		my (@r, $n);
		$n = 0;
		for my $l (@levels[ $from .. $#levels ]) { push @r, @{ $l->{rows} }; $n += $l->{ctr} }
		return (\@r, $n);
	};
	my $find = sub {
		my ($name) = @_;
		for (my $i = $#levels; $i >= 1; $i--) { return $i if $levels[$i]{name} eq $name }
		return -1;
	};
	my $stmts = $t->{stmts};
	for my $i (0 .. $#$stmts)
	{
		my $s = $stmts->[$i];
		my $k = $s->{k};
		my $obs = $errs->{$i};
		my $where = "tx $t->{txid} stmt $i ($s->{sql})";
		if ($in_block && $aborted)
		{
			my $expect_error = 1;
			if ($k eq 'commit' || $k eq 'rollback')
			{
				($in_block, $aborted, $has_slot, @levels) = (0, 0, 0);
				$expect_error = 0;
			}
			elsif ($k eq 'rollback_to' && (my $at = $find->($s->{name})) >= 1)
			{
				splice(@levels, $at + 1);
				@{ $levels[$at] }{qw(rows ctr)} = ([], 0);
				$aborted = 0;
				$expect_error = 0;
			}
			push @problems, "$where: " . ($expect_error ? 'no error in an aborted block' : "error $obs")
			  if $expect_error != defined $obs;
			next;
		}
		my $control = $k =~ /^(begin|commit|rollback|savepoint|release|rollback_to)$/;
		my $takes_slot = $in_block ? (!$control && !$has_slot) : ($k eq 'exec' || $k eq 'fail');
		if (defined $obs)
		{
			my $admission_error = $admission && $takes_slot && ($obs eq '53000' || $obs eq '57014');
			push @problems, "$where: error $obs" . ($takes_slot ? '' : ' (no slot is taken here)')
			  unless $admission_error || ($k eq 'fail' && $obs eq $s->{code});
			$outside_sp = 1
			  if ($obs eq '53000' || $obs eq '57014') && ($in_block || $k eq 'begin') && @levels <= 1;
			push @$contexts, !$in_block ? 'implicit' : @levels > 1 ? 'savepoint' : 'block'
			  if $admission_error && !($k eq 'fail' && $obs eq $s->{code});
			if ($in_block)
			{
				$aborted = 1;
				$has_slot = 0;
			}
			next;
		}
		push @problems, "$where: no error, expected $s->{code}" if $k eq 'fail';
		$has_slot = 1 if $takes_slot && $in_block;
		if ($k eq 'begin')
		{
			($in_block, $has_slot) = (1, 0);
			@levels = ({ name => '', rows => [], ctr => 0 });
		}
		elsif ($k eq 'commit' || $k eq 'rollback')
		{
			if ($k eq 'commit')
			{
				my ($r, $n) = $flat->(0);
				push @committed, @$r;
				$ctr += $n;
			}
			($in_block, $has_slot, @levels) = (0, 0);
		}
		elsif ($k eq 'savepoint')
		{
			push @levels, { name => $s->{name}, rows => [], ctr => 0 };
		}
		elsif ($k eq 'release' || $k eq 'rollback_to')
		{
			my $at = $find->($s->{name});
			die "generator: $where" if $at < 1;
			if ($k eq 'release')
			{
				my ($r, $n) = $flat->($at);
				splice(@levels, $at);
				push @{ $levels[-1]{rows} }, @$r;
				$levels[-1]{ctr} += $n;
			}
			else
			{
				splice(@levels, $at + 1);
				@{ $levels[$at] }{qw(rows ctr)} = ([], 0);
			}
		}
		elsif ($k eq 'exec')
		{
			if ($in_block)
			{
				push @{ $levels[-1]{rows} }, @{ $s->{rows} };
				$levels[-1]{ctr} += $s->{ctr};
			}
			else
			{
				push @committed, @{ $s->{rows} };
				$ctr += $s->{ctr};
			}
		}
	}
	push @problems, "tx $t->{txid}: the script ends inside a block" if $in_block;
	my @sorted = sort { (split /:/, $a)[0] <=> (split /:/, $b)[0] } @committed;
	return (join(',', @sorted), $ctr, \@problems, $outside_sp);
}

# ---------------------------------------------------------------------------
# One run: all clients at once; returns per transaction the errors seen, the
# committed rows per txid, the counters, and anything unexpected on stderr.
sub run_clients
{
	my ($label) = @_;
	$node->safe_psql('postgres', 'TRUNCATE ledger; UPDATE counters SET n = 0;');
	my $t0 = time;
	my (@h, @err);
	for my $c (1 .. $n_clients)
	{
		my ($out, $err) = ('', '');
		push @err, \$err;
		push @h, IPC::Run::start([ 'psql', '-X', '-q', '-d', $node->connstr('postgres') . ' user=app',
				'-f', $files[ $c - 1 ] ], '<', \undef, '>', \$out, '2>', \$err,
			IPC::Run::timeout(120));
	}
	$_->finish for @h;
	my %errors;       # txid => { stmt index => sqlstate }
	my @anomalies;    # stderr lines the model cannot place
	my %codes;
	for my $c (1 .. $n_clients)
	{
		my $saw_end = 0;
		for my $l (split /\n/, ${ $err[ $c - 1 ] })
		{
			if ($l =~ /^psql:[^\n]*?:(\d+): (ERROR|WARNING|FATAL|NOTICE):\s+([0-9A-Z]{5}): /)
			{
				my ($line, $sev, $code) = ($1, $2, $3);
				my $where = $line_of{$c}{$line};
				if ($sev ne 'ERROR' || !$where)
				{
					push @anomalies, "client $c: $l";
					next;
				}
				$codes{$code}++;
				$errors{ $where->[0] }{ $where->[1] } //= $code;
			}
			elsif ($l =~ /^(DETAIL|HINT|LOCATION|CONTEXT|QUERY|STATEMENT):|^TX \d+$/) { }
			elsif ($l eq 'END') { $saw_end = 1 }
			else { push @anomalies, "client $c: $l" }
		}
		push @anomalies, "client $c: its script did not run to the end" unless $saw_end;
	}
	my %rows = map { split /\|/, $_, 2 } split /\n/, $node->safe_psql('postgres', q{
		SELECT txid, string_agg(step || ':' || val || ':' || kind, ',' ORDER BY step) FROM ledger GROUP BY txid});
	my %counters = map { split /\|/ } split /\n/, $node->safe_psql('postgres', 'SELECT client, n FROM counters');
	note(sprintf('%s run: %.1f s, errors by SQLSTATE: %s', $label, time - $t0,
		join(' ', map { "$_=$codes{$_}" } sort keys %codes)));
	return { errors => \%errors, rows => \%rows, counters => \%counters, anomalies => \@anomalies,
		codes => \%codes };
}

sub nothing_left
{
	my ($label) = @_;
	ok($node->poll_query_until('postgres', q{
		SELECT count(*) = 0 FROM poolgov.connections WHERE admission <> 'none'}),
		"$label: every connection's admission state is 'none'");
	is($node->safe_psql('postgres', 'SELECT admission_running || \'/\' || admission_queued FROM poolgov.stats'),
		'0/0', "$label: poolgov.stats counts nothing running or queued");
}

# Checks a run against the model; returns txid => 1 for the transactions
# that reported an error.
sub check_run
{
	my ($label, $run, $admission) = @_;
	is(join("\n", @{ $run->{anomalies} }), '', "$label: no stderr line outside the model (warnings, FATAL, lost connections)");
	my (@problems, @wrong_rows, @outside_sp_committed, %errored);
	my (%ctr, @contexts);
	for my $txid (sort { $a <=> $b } keys %tx)
	{
		my $t = $tx{$txid};
		my $errs = $run->{errors}{$txid} // {};
		$errored{$txid} = 1 if %$errs;
		my ($rows, $ctr, $probs, $outside_sp) = simulate($t, $errs, $admission, \@contexts);
		push @problems, @$probs;
		$ctr{ $t->{client} } += $ctr;
		my $got = $run->{rows}{$txid} // '';
		push @wrong_rows, "tx $txid: committed [$got], the script with its errors commits [$rows]" if $got ne $rows;
		push @outside_sp_committed, "tx $txid: [$got]" if $outside_sp && $got ne '';
	}
	is(join("\n", @problems[ 0 .. ($#problems > 19 ? 19 : $#problems) ]), '',
		"$label: every error is the script's own" . ($admission ? ' or a wait for a slot where a slot is taken' : ''));
	is(join("\n", @wrong_rows[ 0 .. ($#wrong_rows > 19 ? 19 : $#wrong_rows) ]), '',
		"$label: every transaction committed what its script commits given its errors");
	is(join("\n", @outside_sp_committed), '',
		"$label: a block whose slot wait failed outside a savepoint committed nothing");
	is(join(',', map { $run->{counters}{$_} } sort { $a <=> $b } keys %{ $run->{counters} }),
		join(',', map { $ctr{$_} // 0 } 1 .. $n_clients),
		"$label: the per-client counters hold the committed increments");
	my %where;
	$where{$_}++ for @contexts;
	note("$label: waits that failed, by where the slot was taken: "
		  . join(' ', map { "$_=$where{$_}" } sort keys %where)) if $admission;
	return (\%errored, \%where);
}

# --- Run 1: admission control off.
my $stats0 = $node->safe_psql('postgres', 'SELECT admission_waited || \'/\' || admission_timeouts FROM poolgov.stats');
my $off = run_clients('off');
my ($off_errored) = check_run('off', $off, 0);
is($off->{codes}{53000} // 0, 0, 'off: no admission timeout');
is($node->safe_psql('postgres', 'SELECT admission_waited || \'/\' || admission_timeouts FROM poolgov.stats'),
	$stats0, 'off: nothing waited');
nothing_left('off');

# --- Run 2: two slots, 300 ms timeout.
$node->append_conf('postgresql.conf', "poolgov.max_active_transactions = 2\n");
$node->reload;
ok($node->poll_query_until('postgres', q{SELECT current_setting('poolgov.max_active_transactions') = '2'}),
	'admission control on (2 slots)');
usleep(300_000);    # the governor publishes the reload
my $on = run_clients('admission');
my ($on_errored, $failed_waits) = check_run('admission', $on, 1);
nothing_left('admission');

# (1) Transactions without an error in either run committed the same rows.
my @diff;
my $clean = 0;
for my $txid (sort { $a <=> $b } keys %tx)
{
	next if $off_errored->{$txid} || $on_errored->{$txid};
	$clean++;
	my ($a, $b) = ($off->{rows}{$txid} // '', $on->{rows}{$txid} // '');
	push @diff, "tx $txid: off [$a], admission [$b]" if $a ne $b;
}
is(join("\n", @diff), '', "the $clean transactions without an error in either run committed the same rows");
cmp_ok($clean, '>', $n_clients * $n_tx / 3, 'a good share of transactions ran without error in both runs');

# (4) The admission run exercised waits and failures.
my ($waited, $timeouts) = split /\|/, $node->safe_psql('postgres',
	'SELECT admission_waited, admission_timeouts FROM poolgov.stats');
cmp_ok($waited, '>', 0, "admission run: transactions waited ($waited)");
cmp_ok($on->{codes}{53000} // 0, '>', 0, 'admission run: clients saw admission timeouts (53000): '
	  . ($on->{codes}{53000} // 0) . " (poolgov.stats says $timeouts)");
is($on->{codes}{53000} // 0, $timeouts, 'admission run: every admission timeout counted reached a client');
cmp_ok($failed_waits->{block} // 0, '>', 0,
	'admission run: waits failed at a block\'s first statement (what check (2) is about)');

$node->stop;
done_testing();
