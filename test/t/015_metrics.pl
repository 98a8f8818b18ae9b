# poolgov.metrics() under load from two roles: promtool accepts it with no
# warning, its numbers agree with the views read in the same statement, a
# role name with a quote, a backslash and a newline is escaped as the format
# requires, and poolgov.metrics_max_roles (on reload) folds the rest of the
# roles into role="other" without losing a statement.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use PoolgovTest;

# promtool comes with the Debian package prometheus (scripts/install-deps).
my ($promtool) = grep { -x $_ } map { "$_/promtool" } split(/:/, $ENV{PATH} // ''), '/usr/bin';
BAIL_OUT('promtool not found: install the Debian package prometheus') unless $promtool;

my $node = poolgov_node('metrics');
my $weird = "we\"ird\\ro\nle";
(my $weird_sql = $weird) =~ s/"/""/g;
$node->safe_psql('postgres', qq{
	CREATE ROLE app_a LOGIN;
	CREATE ROLE app_b LOGIN;
	CREATE ROLE "$weird_sql" LOGIN;
	CREATE TABLE t (i int);
	GRANT ALL ON t TO PUBLIC;
	CREATE ROLE metrics_reader LOGIN IN ROLE pg_monitor;
	CREATE ROLE nobody LOGIN;
});

# Runs $n copies of $sql as $user in one session (psql -f from stdin).
sub load
{
	my ($user, $sql, $n) = @_;
	my ($out, $err) = ('', '');
	my $script = "$sql\n" x $n;
	IPC::Run::run([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-U', $user ],
		'<', \$script, '>', \$out, '2>', \$err);
	return $err;
}
load('app_a', 'SELECT pg_sleep(0.002);', 40);
load('app_a', 'INSERT INTO t VALUES (1);', 25);
my $err = load('app_b', 'SELECT 1/0;', 5);
like($err, qr/division by zero/, 'app_b ran statements that failed');
load('app_b', 'SELECT count(*) FROM t;', 30);
load($weird, 'SELECT 1;', 7);
# One session stays open (idle), so a live connection's counters count too.
my $open = session($node, user => 'app_a');
$open->query_safe('SELECT 1; SELECT 2;');

# The exposition and the views in one statement (one reading, no statement
# finishes in between).
my $views = q{
	SELECT poolgov.metrics(),
	       (SELECT connections || ',' || statements FROM poolgov.stats),
	       (SELECT string_agg(role || '=' || statements || ',' || connections, ';')
	          FROM poolgov.roles WHERE role IN ('app_a', 'app_b')),
	       (SELECT statements FROM poolgov.databases WHERE database = 'postgres')};
my ($text, $stats, $roles, $dbstmts) = split /\|/,
	$node->safe_psql('postgres', $views, extra_params => ['-F', '|']);

# promtool lints too (names, units, HELP): no output at all is the bar.
my $file = $node->basedir . '/metrics.prom';
open my $fh, '>', $file or die "$file: $!";
print $fh "$text\n";
close $fh;
my ($pout, $perr) = ('', '');
my $rc = IPC::Run::run([ $promtool, 'check', 'metrics' ], '<', $file, '>', \$pout, '2>', \$perr);
ok($rc, 'promtool check metrics passes');
is($pout . $perr, '', 'promtool check metrics has nothing to say');

# Parse the exposition: {series name}{canonical labels} = value, and which
# families have HELP and TYPE.
sub unescape
{
	my ($v) = @_;
	$v =~ s/\\(["\\n])/$1 eq 'n' ? "\n" : $1/ge;
	return $v;
}
sub parse
{
	my ($t) = @_;
	my (%v, %type, %help);
	for my $line (split /\n/, $t) {
		if ($line =~ /^# HELP (\S+) /) { $help{$1} = 1; next; }
		if ($line =~ /^# TYPE (\S+) (\S+)$/) { $type{$1} = $2; next; }
		$line =~ /^([a-z_]+)(?:\{(.*)\})? (\S+)$/ or die "unparsable line: $line";
		my ($name, $labels, $value) = ($1, $2 // '', $3);
		my @pairs;
		while ($labels =~ /\G([a-z_]+)="((?:[^"\\]|\\.)*)",?/gc) {
			push @pairs, "$1=" . unescape($2);
		}
		die "bad labels: $labels" if (pos($labels) // 0) != length $labels;
		$v{ join('|', $name, @pairs) } = $value;
	}
	return (\%v, \%type, \%help);
}
my ($m, $type, $help) = parse($text);
is_deeply([ sort keys %$help ], [ sort keys %$type ], 'HELP and TYPE for every family');

my ($connections, $statements) = split /,/, $stats;
my $sum = 0;
$sum += $m->{"pg_poolgov_connections|state=$_"}
  for qw(active idle idle_in_transaction other);
is($sum, $connections, 'pg_poolgov_connections sums to poolgov.stats.connections');
cmp_ok($connections, '>=', 2, 'the open session and the reader are connected');
is($m->{'pg_poolgov_statements_total'}, $statements, 'statements_total = poolgov.stats.statements');
is($m->{'pg_poolgov_statement_duration_seconds_count'}, $statements,
	'histogram _count = poolgov.stats.statements');
is($m->{'pg_poolgov_statement_duration_seconds_bucket|le=+Inf'}, $statements,
	'histogram +Inf bucket = statements');

my %role = map { my ($r, $v) = split /=/; ($r => [ split /,/, $v ]) } split /;/, $roles;
for my $r (qw(app_a app_b)) {
	my ($st, $conn) = @{ $role{$r} };
	is($m->{"pg_poolgov_role_statements_total|role=$r"}, $st,
		"$r: role_statements_total = poolgov.roles.statements");
	is($m->{"pg_poolgov_role_statement_duration_seconds_count|role=$r"}, $st,
		"$r: role histogram _count = statements");
	is($m->{"pg_poolgov_role_statement_duration_seconds_bucket|role=$r|le=+Inf"}, $st,
		"$r: role +Inf bucket = statements");
	is($m->{"pg_poolgov_role_connections|role=$r"}, $conn, "$r: role_connections");
}
cmp_ok($role{app_a}[0], '>=', 67, 'app_a statements counted (40 + 25 + 2)');
is($m->{'pg_poolgov_role_errors_total|role=app_b'}, 5, 'app_b: five errors');
is($m->{'pg_poolgov_role_connections|role=app_a'}, 1, 'app_a: the open session');
# 40 sleeps of 2 ms: none under 1 ms (a bucket bound 1.6 % off at most).
cmp_ok($m->{'pg_poolgov_role_statement_duration_seconds_bucket|role=app_a|le=0.001'},
	'<=', $role{app_a}[0] - 40, 'app_a: the 2 ms sleeps are above le=0.001');
cmp_ok($m->{'pg_poolgov_role_statement_duration_seconds_sum|role=app_a'}, '>=', 0.08,
	'app_a: _sum in seconds covers 40 sleeps of 2 ms');
is($m->{'pg_poolgov_database_statements_total|database=postgres'}, $dbstmts,
	'database_statements_total = poolgov.databases.statements');

# Every bucket series is cumulative (never decreases with le).
my $monotonic = 1;
for my $key (grep { /_bucket\|/ } keys %$m) {
	(my $series = $key) =~ s/\|le=[^|]*$//;
	my @les = sort { ($a eq '+Inf' ? 1e99 : $a) <=> ($b eq '+Inf' ? 1e99 : $b) }
	  map { /\|le=([^|]*)$/ ? $1 : () } grep { index($_, "$series|le=") == 0 } keys %$m;
	my $prev = 0;
	for my $le (@les) {
		my $v = $m->{"$series|le=$le"};
		$monotonic = 0 if $v < $prev;
		$prev = $v;
	}
}
ok($monotonic, 'every histogram is cumulative');

# The weird role: escaped in the text, the same name once unescaped.
like($text, qr/^pg_poolgov_role_statements_total\{role="we\\"ird\\\\ro\\nle"\} 7$/m,
	'quote, backslash and newline escaped in the label value');
is($m->{"pg_poolgov_role_statements_total|role=$weird"}, 7, 'the escaped name parses back');

# Privileges: pg_monitor may, an ordinary role may not (42501).
my $as_reader = $node->safe_psql('postgres', 'SELECT left(poolgov.metrics(), 7)',
	extra_params => [ '-U', 'metrics_reader' ]);
is($as_reader, '# HELP ', 'a pg_monitor member reads the metrics');
my ($ret, $out, $stderr) = $node->psql('postgres', 'SELECT poolgov.metrics()',
	extra_params => [ '-U', 'nobody', '-v', 'VERBOSITY=verbose' ]);
like($stderr, qr/42501/, 'an ordinary role is refused with 42501');

# The cap, on reload: one role keeps its series (the busiest), the others are
# summed under role="other", and no statement is lost. app_b first becomes
# by far the busiest role (300 more statements; app_a has about 70, the
# test's superuser a few dozen).
load('app_b', 'SELECT 1;', 300);
my $app_b = $node->safe_psql('postgres', q{SELECT statements FROM poolgov.roles WHERE role = 'app_b'});
cmp_ok($app_b, '>=', 330, "app_b ran $app_b statements");
$node->append_conf('postgresql.conf', 'poolgov.metrics_max_roles = 1');
$node->reload;
my $capped = '';
my $deadline = time + 60;
while (time < $deadline) {
	$capped = $node->safe_psql('postgres', 'SELECT poolgov.metrics()');
	last if $capped =~ /role="other"/;
	select(undef, undef, undef, 0.1);
}
my ($c) = parse($capped);
my @role_series = grep { /^pg_poolgov_role_statements_total\|/ } keys %$c;
is(scalar @role_series, 2, 'metrics_max_roles = 1: one role and "other"');
my ($top) = map { /role=(.*)$/s ? $1 : () } grep { $_ ne 'pg_poolgov_role_statements_total|role=other' } @role_series;
is($top, 'app_b', 'the kept role is the busiest, app_b');
is($c->{'pg_poolgov_role_statements_total|role=app_b'}, $app_b, 'with its own count');
is($node->safe_psql('postgres', q{SELECT role FROM poolgov.roles ORDER BY statements DESC LIMIT 1}),
	'app_b', '(poolgov.roles agrees that app_b is the busiest)');
my $role_sum = 0;
$role_sum += $c->{$_} for @role_series;
is($role_sum, $c->{'pg_poolgov_statements_total'}, 'kept + other = all statements');
($pout, $perr) = ('', '');
open $fh, '>', $file or die "$file: $!";
print $fh "$capped\n";
close $fh;
$rc = IPC::Run::run([ $promtool, 'check', 'metrics' ], '<', $file, '>', \$pout, '2>', \$perr);
ok($rc && $pout . $perr eq '', 'promtool accepts the capped exposition');

$open->quit;
$node->stop;
done_testing();
