# declare a topic exchange to watch: the proxy binds only to exchanges that exist, and a fresh broker has none
node -e "const a=require('amqplib');(async()=>{const c=await a.connect('amqp://guest:guest@localhost');
const ch=await c.createChannel();await ch.assertExchange('exchange/demo','topic',{durable:false});await c.close()})()"
