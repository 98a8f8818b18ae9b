# poolgov.check_login and the views ask the same core function as the
# login itself: random budgets (roles, groups, databases, client addresses
# counted as a range or per address) × memberships × held connections over
# a unix socket and over TCP; for every (role, database, address) check_login
# is asked, and for a random part of them a real login is made and must get
# exactly what check_login said (allowed or refused, by the same message,
# detail and hint). When a login is refused, budget_usage shows the rule
# that refused it full, and a refusal by a rule for every database and no
# address is the rule poolgov.roles names. Also: who may ask.
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PoolgovTest;

my $node = poolgov_node('check_login', conf => "listen_addresses = '127.0.0.1'\n");
$node->append_conf('pg_hba.conf', "host all all 127.0.0.1/32 trust\n");
$node->reload;

my @roles = map { "r$_" } 1 .. 6;
my @groups = qw(g1 g2);
my @dbs = qw(postgres db2);
$node->safe_psql('postgres', join "\n",
	(map { "CREATE ROLE $_;" } @groups),
	(map { "CREATE ROLE $_ LOGIN;" } @roles),
	'CREATE ROLE mon LOGIN IN ROLE pg_monitor;',
	'CREATE ROLE nobody LOGIN;',
	'CREATE DATABASE db2;');

my $seed = $ENV{POOLGOV_TEST_SEED} // time() % 100000;
note("seed $seed");
srand($seed);
sub pick { return $_[ int(rand(scalar @_)) ] }

my $port = $node->port;
my $socket = $node->host;
sub conninfo
{
	my ($role, $db, $tcp) = @_;
	my $host = $tcp ? '127.0.0.1' : $socket;
	return "host=$host port=$port dbname=$db user=$role";
}

my $admin = session($node);
sub ask { my ($sql) = @_; my $r = $admin->query_safe($sql); chomp $r; return $r }

# Waits until the server holds exactly $n client connections, counted both
# by pg_stat_activity and by pg_poolgov (an exited login is out of both).
sub settle
{
	my ($n) = @_;
	my $t0 = time;
	while (time - $t0 < 30)
	{
		my $r = ask(qq{SELECT (SELECT count(*) FROM pg_stat_activity
		                        WHERE backend_type = 'client backend') = $n
		                  AND (SELECT connections FROM poolgov.stats) = $n});
		return 1 if $r eq 't';
		usleep(20_000);
	}
	return 0;
}

my ($checks, $logins, $refusals, $address_refusals, $view_checks) = (0, 0, 0, 0, 0);
my $mismatch = 0;
for my $round (1 .. 30)
{
	# Memberships: each role in a random set of groups; g1 sometimes in g2.
	my @sql = ('DELETE FROM poolgov.budgets;');
	for my $r (@roles)
	{
		push @sql, "REVOKE g1, g2 FROM $r;";
		for my $g (@groups) { push @sql, "GRANT $g TO $r;" if rand() < 0.4 }
	}
	push @sql, rand() < 0.3 ? 'GRANT g2 TO g1;' : 'REVOKE g2 FROM g1;';
	# Rules: a role, a group or none; a database or none; an address form.
	my %seen;
	for (1 .. 2 + int(rand(6)))
	{
		my $role = pick(@roles, @groups, undef, undef);
		my $db = rand() < 0.3 ? pick(@dbs) : undef;
		my $addr = pick(undef, undef, 'local', '127.0.0.1', '127.0.0.0/8', '10.0.0.0/8', 'all');
		$addr = pick('local', '127.0.0.0/8', 'all') if !defined $role && !defined $addr;
		my $each = defined $addr && rand() < 0.4 ? 'true' : 'false';
		my $key = join '|', map { $_ // '' } $role, $db, $addr, $each;
		next if $seen{$key}++;
		my $max = int(rand(4));
		push @sql, sprintf("SELECT poolgov.set_budget_rule(role => %s, max_connections => %d, "
			  . "database => %s, client_addr => %s, per_address => %s);",
			defined $role ? "'$role'" : 'NULL', $max, defined $db ? "'$db'" : 'NULL',
			defined $addr ? "'$addr'" : 'NULL', $each);
	}
	$node->safe_psql('postgres', join "\n", @sql);

	# Held connections (admitted before the rules bite, or refused: either
	# way the counts are what they are).
	my @held;
	for (1 .. int(rand(7)))
	{
		my ($out, $err) = ('', '');
		my $h = IPC::Run::start([ 'psql', '-X', '-q', '-d',
				conninfo(pick(@roles), pick(@dbs), rand() < 0.5), '-c', 'SELECT pg_sleep(600)' ],
			'<', \undef, '>', \$out, '2>', \$err);
		push @held, $h;
	}
	# Each either connects or is refused at once; wait for the server's
	# view of them to settle.
	my $stable = -1;
	my $t0 = time;
	while (time - $t0 < 30)
	{
		my $n = ask(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'});
		last if $n == $stable && settle($n);
		$stable = $n;
		usleep(300_000);
	}
	my $connected = ask(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'});

	for my $role (@roles)
	{
		for my $db (@dbs)
		{
			# Unix socket, 127.0.0.1 (real logins too), and two addresses
			# no login here comes from (check_login only).
			for my $tcp (0, 1, 2, 3)
			{
				my $addr = ('NULL', "'127.0.0.1'", "'10.0.0.7'", "'127.0.0.9'")[$tcp];
				my $c = ask(qq{SELECT allowed, coalesce(kind, ''), coalesce(rule_role::text, ''),
				                  coalesce(rule_database::text, ''),
				                  coalesce(rule_client_addr, ''), coalesce(per_address, false),
				                  coalesce(message, ''), coalesce(detail, ''), coalesce(hint, ''),
				                  coalesce(sqlstate, '')
				                FROM poolgov.check_login('$role', '$db', $addr)});
				$checks++;
				my ($allowed, $kind, $rrole, $rdb, $raddr, $each, $msg, $detail, $hint, $state) =
				  split /\|/, $c, -1;
				if ($allowed eq 'f')
				{
					# The refusing rule is full in budget_usage.
					my $full = ask(qq{SELECT count(*) FROM poolgov.budget_usage
					                   WHERE coalesce(role::text, '') = '$rrole'
					                     AND coalesce(database::text, '') = '$rdb'
					                     AND coalesce(client_addr, '') = '$raddr'
					                     AND per_address = '$each'
					                     AND headroom <= 0});
					$view_checks++;
					unless (is($full, 1, "round $round: $role/$db/"
							  . $addr . ": the rule check_login names is full "
							  . "in budget_usage ($kind $rrole $rdb $raddr)"))
					{
						$mismatch++;
					}
					is($state, '53300', 'a budget refusal carries SQLSTATE 53300') if $kind ne '';
				}
				next unless $tcp <= 1 && rand() < 0.3;

				# The real login, now.
				my ($out, $err) = ('', '');
				IPC::Run::run([ 'psql', '-X', '-A', '-t', '-d', conninfo($role, $db, $tcp),
						'-c', 'SELECT 1' ], '<', \undef, '>', \$out, '2>', \$err);
				my $ok = $? == 0 ? 't' : 'f';
				$logins++;
				my $what = "round $round: $role/$db/" . ($tcp ? 'tcp' : 'local');
				$mismatch++ unless is($ok, $allowed, "$what: the login is "
					  . ($allowed eq 't' ? 'allowed' : 'refused') . " as check_login said")
				  or diag("check_login: $c\nlogin: $err");
				if ($ok eq 'f' && $allowed eq 'f')
				{
					$refusals++;
					$address_refusals++ if $kind eq 'address';
					like($err, qr/FATAL:  \Q$msg\E/, "$what: same message");
					like($err, qr/DETAIL:  \Q$detail\E/, "$what: same detail");
					like($err, qr/HINT:  \Q$hint\E/, "$what: same hint");
					# A rule for every database and no address: poolgov.roles
					# names it as what governs the role.
					if (($kind eq 'role' || $kind eq 'group') && $rdb eq '' && $raddr eq '')
					{
						my $v = ask(qq{SELECT budget_role, budget_source FROM poolgov.roles
						                WHERE role = '$role'});
						is($v, "$rrole|$kind", "$what: poolgov.roles names the refusing rule");
						$view_checks++;
					}
				}
				ok(settle($connected), "$what: connections back to $connected");
			}
		}
	}
	# pg_sleep does not notice its client go: end the backends first.
	ask(q{SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	       WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()});
	$_->kill_kill for @held;
	ok(settle(1), "round $round: held connections gone");
}
diag("check_login calls $checks, real logins $logins, refusals $refusals "
	  . "($address_refusals by address rules), view checks $view_checks");
cmp_ok($checks, '>=', 1000, 'a thousand check_login answers');
cmp_ok($refusals, '>=', 10, 'the real logins include refusals');
cmp_ok($address_refusals, '>=', 2, 'and refusals by address rules');
is($mismatch, 0, 'no check_login answer differed from the login');

# --- A full rule with a larger limit than a rule with room: the refusal
# names the full one, and so does poolgov.roles (not merely the smallest).
$node->safe_psql('postgres', q{
	DELETE FROM poolgov.budgets;
	REVOKE g1, g2 FROM r1, r2, r3, r4, r5, r6;
	REVOKE g2 FROM g1;
	GRANT g1 TO r1, r2, r3;
	SELECT poolgov.set_budget('g1', 2);
	SELECT poolgov.set_budget('r1', 1);
});
my @held;
for my $r (qw(r2 r3))
{
	my ($o, $e) = ('', '');
	push @held, IPC::Run::start([ 'psql', '-X', '-q', '-d', conninfo($r, 'postgres', 0),
			'-c', 'SELECT pg_sleep(600)' ], '<', \undef, '>', \$o, '2>', \$e);
}
ok(settle(3), 'two members of g1 hold its budget');
my ($lrc, $lout, $lerr) = try_login($node, 'r1');
like($lerr, qr/DETAIL:  Role "g1" has 2 connections; the group's pg_poolgov budget allows 2/,
	'the login is refused by the full group rule, not by its own rule with room');
is(ask(q{SELECT budget_role || '|' || budget_source || '|' || budget FROM poolgov.roles
          WHERE role = 'r1'}), 'g1|group|2', 'poolgov.roles names the rule that refuses');
is(ask(q{SELECT kind || '|' || rule_role FROM poolgov.check_login('r1')}), 'group|g1',
	'check_login names it too');
ask(q{SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
       WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()});
$_->kill_kill for @held;
ok(settle(1), 'held connections gone');

# --- Who may ask.
my ($rc, $out, $err) = $node->psql('postgres',
	q{SELECT allowed FROM poolgov.check_login('nobody')}, extra_params => [ '-U', 'nobody' ]);
is($rc, 0, 'a role may check its own login');
($rc, $out, $err) = $node->psql('postgres',
	q{SELECT allowed FROM poolgov.check_login('r1')}, extra_params => [ '-U', 'nobody' ]);
like($err, qr/permission denied to check logins of role "r1"/, "an unprivileged role may not check another's");
($rc, $out, $err) = $node->psql('postgres',
	q{SELECT allowed FROM poolgov.check_login('r1', 'db2', '10.1.2.3')}, extra_params => [ '-U', 'mon' ]);
is($rc, 0, 'pg_monitor members may check any role');
($rc, $out, $err) = $node->psql('postgres',
	q{SELECT allowed FROM poolgov.check_login('r1', 'db2', '10.1.2.0/24')});
like($err, qr/client_addr must be one address/, 'a network is not a login address');

$admin->quit;
$node->stop;
done_testing();
