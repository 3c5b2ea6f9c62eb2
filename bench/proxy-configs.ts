/**
 * Configurations of the C proxies the gateway is compared with, set up for
 * the same job as far as each can go.
 *
 * HAProxy: routing by API version in the path, v1 split by weight between
 * the two backends (per request, like a split `stickyBy: order`), and a
 * stick table that learns which server holds each transaction: the order
 * number from the create's body, the transaction id from the create's answer,
 * matched on every follow-up (path id or order-number query), with
 * `no option redispatch` so that a follow-up never moves. The reference
 * backends do not send the transaction id in a header, so HAProxy reads it
 * from the JSON answer (`res.body,json_query`). It does not validate bodies,
 * scope order numbers by merchant, share the table between instances, or
 * survive a restart with it (peers would be needed), and it has no rules API.
 *
 * nginx: a bare reverse proxy with upstream keep-alive, v1 and v2 routed by
 * path; open-source nginx cannot learn a stickiness key from an answer.
 *
 * Both run one thread/process, as a Node process uses one core for JavaScript.
 */
export interface Upstreams { legacy: string; next: string }

const hostPort = (url: string) => new URL(url).host;

/** HAProxy 2.6 config (haproxy -db -f <file>). */
export function haproxyConfig(port: number, up: Upstreams): string {
  const stick = (orderField: string, queryParam: string, idField: string) => [
    '  no option redispatch',
    '  option http-buffer-request',
    '  stick-table type string len 64 size 2m expire 24h',
    '  stick match path,field(5,/)',
    `  stick match url_param(${queryParam})`,
    `  stick store-request req.body,json_query('$.${orderField}')`,
    `  stick store-response res.body,json_query('$.${idField}')`,
  ];
  return [
    'global',
    '  maxconn 4000',
    '  nbthread 1',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 30s',
    '  timeout server 10s',
    '  timeout http-keep-alive 5s',
    '  option http-keep-alive',
    '  http-reuse always',
    'frontend merchant',
    `  bind 127.0.0.1:${port}`,
    '  monitor-uri /healthz',
    '  use_backend api_v1 if { path_beg /api/v1/ }',
    '  use_backend api_v2 if { path_beg /api/v2/ }',
    'backend api_v1',
    '  balance roundrobin',
    ...stick('out_trade_no', 'out_trade_no', 'trade_no'),
    `  server legacy ${hostPort(up.legacy)} weight 50`,
    `  server next ${hostPort(up.next)} weight 50`,
    'backend api_v2',
    ...stick('merchantOrderId', 'merchantOrderId', 'id'),
    `  server next ${hostPort(up.next)}`,
    '',
  ].join('\n');
}

/** nginx config (nginx -p <dir> -e <dir>/error.log -c <file>), one process in the foreground. */
export function nginxConfig(port: number, up: Upstreams, dir: string): string {
  const location = (prefix: string, upstream: string) => [
    `    location ${prefix} {`,
    `      proxy_pass http://${upstream};`,
    '      proxy_http_version 1.1;',
    '      proxy_set_header Connection "";',
    '      proxy_set_header Host $host;',
    '    }',
  ];
  return [
    'daemon off;',
    'master_process off;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/nginx-error.log warn;`,
    'events { worker_connections 8192; }',
    'http {',
    '  access_log off;',
    `  client_body_temp_path ${dir}/client_body;`,
    `  proxy_temp_path ${dir}/proxy;`,
    `  fastcgi_temp_path ${dir}/fastcgi;`,
    `  uwsgi_temp_path ${dir}/uwsgi;`,
    `  scgi_temp_path ${dir}/scgi;`,
    '  keepalive_timeout 5s;',
    '  keepalive_requests 100000;',
    `  upstream legacy { server ${hostPort(up.legacy)}; keepalive 256; }`,
    `  upstream next { server ${hostPort(up.next)}; keepalive 256; }`,
    '  server {',
    `    listen 127.0.0.1:${port};`,
    '    location = /healthz { return 200 "ok"; }',
    ...location('/api/v1/', 'legacy'),
    ...location('/api/v2/', 'next'),
    '  }',
    '}',
    '',
  ].join('\n');
}
