# stream every message of exchange/demo (leave it running)
curl -N "http://localhost:8080/api/events/v1/connect/?bindings=$(node -e \
  'process.stdout.write(encodeURIComponent(JSON.stringify({bindings:[{exchange:"exchange/demo",routingKeyPattern:"#"}]})))')"
