# in another shell: publish a message to exchange/demo
node -e "const a=require('amqplib');(async()=>{const c=await a.connect('amqp://guest:guest@localhost');
const ch=await c.createConfirmChannel();ch.publish('exchange/demo','a.b',Buffer.from('{\"hi\":1}'));
await ch.waitForConfirms();await c.close()})()"
