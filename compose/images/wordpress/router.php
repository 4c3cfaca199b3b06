<?php
// PHP's built-in server as Apache's WordPress rewrite rules: a file that
// exists is served as it is; everything else goes to index.php.
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH) ?: '/';
$root = $_SERVER['DOCUMENT_ROOT'];
if ($path !== '/' && is_file($root . $path)) {
    if (substr($path, -4) !== '.php') return false;
    chdir(dirname($root . $path));
    $_SERVER['SCRIPT_NAME'] = $_SERVER['PHP_SELF'] = $path;
    $_SERVER['SCRIPT_FILENAME'] = $root . $path;
    require $root . $path;
    return;
}
if ($path !== '/' && is_dir($root . $path) && is_file(rtrim($root . $path, '/') . '/index.php')) {
    $index = rtrim($path, '/') . '/index.php';
    chdir($root . rtrim($path, '/'));
    $_SERVER['SCRIPT_NAME'] = $_SERVER['PHP_SELF'] = $index;
    $_SERVER['SCRIPT_FILENAME'] = $root . $index;
    require $root . $index;
    return;
}
$_SERVER['SCRIPT_NAME'] = $_SERVER['PHP_SELF'] = '/index.php';
$_SERVER['SCRIPT_FILENAME'] = $root . '/index.php';
chdir($root);
require $root . '/index.php';
