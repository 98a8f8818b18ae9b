# A real Prometheus (Debian package prometheus) scrapes the governor's
# /metrics endpoint every second while two roles put load on the server,
# with monitoring/alerts.yml loaded. Through its HTTP query API:
#   - sum(pg_poolgov_connections) equals pg_stat_activity's client backends
#     at a quiet moment;
#   - per-role pg_poolgov_role_statements_total equals poolgov.roles.statements
#     once the load stopped;
#   - histogram_quantile(0.95, ...) of a role's buckets lies in the bucket that
#     holds poolgov.roles.p95_ms (the documented error: Prometheus
#     interpolates linearly inside a bucket, so the bucket is all it knows;
#     docs/monitoring.md, "Latency buckets and their error");
#   - every alert rule evaluates without error, and every PromQL expression
#     of monitoring/grafana-dashboard.json and monitoring/alerts.yml returns
#     data.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use HTTP::Tiny;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use PoolgovTest;

my ($prometheus) = grep { -x $_ } map { "$_/prometheus" } split(/:/, $ENV{PATH} // ''),
  '/usr/bin';
BAIL_OUT('prometheus not found: install the Debian package prometheus') unless $prometheus;
my $monitoring = abs_path(dirname(__FILE__) . '/../../monitoring');
BAIL_OUT("no monitoring/ next to test/t") unless -f "$monitoring/alerts.yml";

my $mport = PostgreSQL::Test::Cluster::get_free_port();
my $node = poolgov_node('prom', conf => "poolgov.metrics_port = $mport\n");
$node->safe_psql('postgres', q{
	CREATE ROLE app_a LOGIN;
	CREATE ROLE app_b LOGIN;
	CREATE TABLE t (i int);
	GRANT ALL ON t TO PUBLIC;
});

# --- Prometheus ----------------------------------------------------------------
my $pport = PostgreSQL::Test::Cluster::get_free_port();
my $pdir = $node->basedir . '/prometheus';
mkdir $pdir or die "$pdir: $!";
open my $cfg, '>', "$pdir/prometheus.yml" or die $!;
print $cfg <<"EOF";
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $monitoring/alerts.yml
scrape_configs:
  - job_name: postgres
    static_configs:
      - targets: ['127.0.0.1:$mport']
EOF
close $cfg;
my $plog = "$pdir/prometheus.log";
my $prom = IPC::Run::start(
	[ $prometheus, "--config.file=$pdir/prometheus.yml", "--storage.tsdb.path=$pdir/data",
	  "--web.listen-address=127.0.0.1:$pport", '--log.level=warn' ],
	'<', \undef, '>', $plog, '2>&1');
# Also when a test dies: no Prometheus left behind.
END { $prom->kill_kill if $prom && $prom->pumpable; }

my $http = HTTP::Tiny->new(timeout => 10);
my $api = "http://127.0.0.1:$pport/api/v1";

# Runs an instant query; returns (status, result list, error).
sub query
{
	my ($expr) = @_;
	my $r = $http->post_form("$api/query", { query => $expr });
	return ('http', [], "$r->{status} $r->{reason}: $r->{content}")
	  unless $r->{content} && $r->{content} =~ /^\{/;
	my $j = decode_json($r->{content});
	return ($j->{status}, $j->{data}{result} // [], $j->{error} // '');
}

# The value of a one-series query, or undef.
sub value_of
{
	my ($expr) = @_;
	my ($st, $res) = query($expr);
	return undef unless $st eq 'success' && @$res == 1;
	return $res->[0]{value}[1];
}

# Waits (at most 30 s) for a scrape that started after $t.
sub wait_scrape_after
{
	my ($t) = @_;
	for (1 .. 300)
	{
		my $ts = value_of('max(timestamp(pg_poolgov_max_connections))');
		return 1 if defined $ts && $ts > $t;
		sleep 0.1;
	}
	return 0;
}

my $up;
for (1 .. 300)
{
	$up = value_of('up{job="postgres"}');
	last if defined $up && $up == 1;
	sleep 0.1;
}
is($up, 1, 'Prometheus scrapes the governor') or diag('prometheus: ' . slurp_file($plog));

# --- load from two roles -----------------------------------------------------
# Runs the statements in one session as $user.
sub load
{
	my ($user, $script) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-U', $user ],
		'<', \$script, '>', \$out, '2>', \$err);
	return $err;
}
# app_b's series exist before most of its load, so rate() sees it grow.
load('app_b', "SELECT pg_sleep(0.012);\n" x 5);
ok(wait_scrape_after(time), 'a scrape before the main load');
load('app_a', ("SELECT pg_sleep(0.003);\n" x 60) . ("INSERT INTO t VALUES (1);\n" x 40));
load('app_b', ("SELECT pg_sleep(0.012);\n" x 30) . ("SELECT count(*) FROM t;\n" x 20)
	  . ("SELECT 1/0;\n" x 3));

# A quiet moment: three idle sessions and the checker, nothing else.
my $checker = session($node);
my @idle = map { session($node, user => $_) } qw(app_a app_b app_a);
my $settled = 0;
for (1 .. 300)
{
	my $c = $checker->query_safe(q{
		SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')
		       || ',' || (SELECT connections FROM poolgov.stats)});
	if ($c =~ /^(\d+),(\d+)$/ && $1 == 4 && $2 == 4) { $settled = 1; last; }
	sleep 0.1;
}
ok($settled, 'quiet: four client backends (three idle sessions and the checker)');
my $t_quiet = time;
ok(wait_scrape_after($t_quiet), 'Prometheus scraped after the quiet moment began');
my $psa = $checker->query_safe(
	q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'});
is(value_of('sum(pg_poolgov_connections{job="postgres"})'), $psa,
	"sum(pg_poolgov_connections) = pg_stat_activity's client backends ($psa)");

# --- per-role counters after the load --------------------------------------
# The load ended before the quiet moment and the checker runs as postgres:
# app_a's and app_b's counters no longer move.
my $roles = $checker->query_safe(q{
	SELECT string_agg(role || '=' || statements || ',' || errors || ',' || p95_ms, ';' ORDER BY role)
	  FROM poolgov.roles WHERE role IN ('app_a', 'app_b')});
my %view = map { my ($r, $v) = split /=/; ($r => [ split /,/, $v ]) } split /;/, $roles;
ok(wait_scrape_after(time), 'a scrape after the counters were read');
for my $role (qw(app_a app_b))
{
	is(value_of(qq{pg_poolgov_role_statements_total{role="$role"}}), $view{$role}[0],
		"$role: pg_poolgov_role_statements_total = poolgov.roles.statements ($view{$role}[0])");
	is(value_of(qq{pg_poolgov_role_errors_total{role="$role"}}), $view{$role}[1],
		"$role: pg_poolgov_role_errors_total = poolgov.roles.errors");
}
ok($view{app_a}[0] >= 100 && $view{app_b}[0] >= 50, 'the load ran') or diag($roles);

# --- p95 from the buckets vs poolgov.roles.p95_ms ------------------------------
# The bucket bounds of the exposition (le); Prometheus's estimate lies in the
# bucket holding rank 0.95 * count, and so does p95_ms, up to the edge error
# of the mapping (0.7 %) and the quantile's own (1.6 %): 3 % slack.
my @bounds = (0, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
	0.25, 0.5, 1, 2.5, 5, 10, 30, 60);
for my $role (qw(app_a app_b))
{
	my $q = value_of(qq{histogram_quantile(0.95, sum by (le) }
		  . qq{(pg_poolgov_role_statement_duration_seconds_bucket{role="$role"}))});
	my $p95 = $view{$role}[2] / 1000;
	my ($lo, $hi);
	for my $i (1 .. $#bounds)
	{
		($lo, $hi) = ($bounds[ $i - 1 ], $bounds[$i]) if $q > $bounds[ $i - 1 ] && $q <= $bounds[$i];
	}
	ok(defined $hi && $p95 >= $lo * 0.97 && $p95 <= $hi * 1.03,
		"$role: histogram_quantile(0.95) = ${q}s and p95_ms = $view{$role}[2] ms lie in "
		  . "the same bucket (" . ($lo // '?') . ', ' . ($hi // '?') . ']');
}
# rate() over the load, as the dashboard does it: over half of app_b's
# statements sleep 12 ms, so its p95 is above the 10 ms bound (and, with a
# generous margin for a busy machine, below 1 s).
my $rq = value_of(q{histogram_quantile(0.95, sum by (le) (rate(}
	  . q{pg_poolgov_role_statement_duration_seconds_bucket{role="app_b"}[5m])))});
ok(defined $rq && $rq > 0.01 && $rq <= 1,
	"app_b's p95 from rate() is above 10 ms (pg_sleep(0.012)): " . ($rq // 'none'));

# --- every expression of the dashboard and the alerts -------------------------
# Grafana variables get the values monitoring/check uses; the rate window
# covers the whole test, so every rate has at least two samples.
my %vars = ('$__rate_interval' => '5m', '$__interval' => '1m', '$__range' => '1h',
	'$instance' => '.*', '$topn' => '10');
sub grafana_expr
{
	my ($e) = @_;
	for my $v (sort { length $b <=> length $a } keys %vars)
	{
		(my $braced = $v) =~ s/^\$/\${/;
		$e =~ s/\Q$braced}\E/$vars{$v}/g;
		$e =~ s/\Q$v\E/$vars{$v}/g;
	}
	return $e;
}
my $dash = decode_json(slurp_file("$monitoring/grafana-dashboard.json"));
my @exprs;
my @stack = @{ $dash->{panels} };
while (my $p = shift @stack)
{
	push @stack, @{ $p->{panels} // [] };
	for my $t (@{ $p->{targets} // [] })
	{
		push @exprs, [ "panel \"$p->{title}\" $t->{refId}", grafana_expr($t->{expr}) ]
		  if $t->{expr};
	}
}
ok(@exprs >= 20, scalar(@exprs) . ' dashboard expressions');

# The rules as Prometheus loaded them. An alert condition (a comparison with
# a threshold) returns nothing while all is well: evaluated with `bool`, it
# returns 0 or 1 for every series, so "returns data" shows the series exist.
my $n_alerts = () = slurp_file("$monitoring/alerts.yml") =~ /^\s*- alert:/mg;
my ($rules, $evaluated);
for (1 .. 100)
{
	my $r = $http->get("$api/rules");
	$rules = [ map { @{ $_->{rules} } } @{ decode_json($r->{content})->{data}{groups} } ];
	$evaluated = grep { $_->{lastEvaluation} && $_->{lastEvaluation} !~ /^0001/ } @$rules;
	last if $evaluated == @$rules && @$rules;
	sleep 0.1;
}
is(scalar(@$rules), $n_alerts, "Prometheus loaded every rule of alerts.yml ($n_alerts)");
is($evaluated, $n_alerts, 'and evaluated each');
for my $r (@$rules)
{
	is($r->{health}, 'ok', "alert $r->{name}: evaluates without error")
	  or diag($r->{lastError});
	(my $e = $r->{query}) =~ s/(>=|<=|==|!=|>|<)\s*(?=[-0-9.])/$1 bool /g;
	push @exprs, [ "alert $r->{name}", $e ];
}

for my $x (@exprs)
{
	my ($where, $e) = @$x;
	my ($st, $res, $err) = query($e);
	ok($st eq 'success' && @$res > 0, "$where returns data") or diag("$e: $st $err");
}

$_->quit for @idle, $checker;
$prom->kill_kill;
undef $prom;
$node->stop;
done_testing();
