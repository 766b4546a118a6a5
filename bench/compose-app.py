import http.server, psycopg2, redis

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        db = psycopg2.connect(host="db", user="postgres", dbname="postgres")
        with db, db.cursor() as c:
            c.execute("CREATE TABLE IF NOT EXISTS hits (at timestamptz DEFAULT now())")
            c.execute("INSERT INTO hits DEFAULT VALUES")
            c.execute("SELECT count(*) FROM hits")
            rows = c.fetchone()[0]
        db.close()
        seen = redis.Redis(host="cache").incr("hits")
        body = f"postgres={rows} redis={seen}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

http.server.HTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
