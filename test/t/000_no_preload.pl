# Without shared_preload_libraries, CREATE EXTENSION and the views say what
# to do instead of failing obscurely.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('no_preload');
$node->init;
$node->start;

my ($rc, $out, $err) = $node->psql('postgres', 'CREATE EXTENSION pg_poolgov');
isnt($rc, 0, 'CREATE EXTENSION fails without the preload');
like($err, qr/pg_poolgov must be loaded via shared_preload_libraries/, 'the error says why');
like($err, qr/HINT:  Add pg_poolgov to shared_preload_libraries/, 'the hint says what to do');

# Installed with the preload, then the preload is removed: reading a view
# fails with the same clear message and SQLSTATE 55000.
$node->append_conf('postgresql.conf', "shared_preload_libraries = 'pg_poolgov'");
$node->restart;
$node->safe_psql('postgres', 'CREATE EXTENSION pg_poolgov');
$node->append_conf('postgresql.conf', "shared_preload_libraries = ''");
$node->restart;
($rc, $out, $err) = $node->psql('postgres',
	'\set VERBOSITY verbose' . "\n" . 'SELECT * FROM poolgov.stats');
isnt($rc, 0, 'reading a view fails without the preload');
like($err, qr/ERROR:  55000: pg_poolgov must be loaded via shared_preload_libraries/,
	'with SQLSTATE 55000 and the clear message');

$node->stop;
done_testing();
