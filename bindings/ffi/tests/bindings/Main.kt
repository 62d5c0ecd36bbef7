// Kotlin tests of the lime-ffi bindings against a running `lime serve` (started by
// bindings/ffi/run-kotlin-tests.sh, which passes its TCP and WebSocket URIs), after the
// cross-language vectors (Vectors.kt) when their directory is given.
//
// Usage: MainKt <net.tcp://host:port> <ws://host:port> [tests/vectors]
// The server must accept `guest` and `plain` with the users `alice@localhost plain wonderland`
// and `dora@localhost plain pässwörd`.
// Prints one line per test (per vector file: its counts, and each failing case), then
// `N passed, N failed` last, counting every vector case; exits 1 on any failure.

import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlin.system.exitProcess
import com.sun.jna.Native
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.limeprotocol.*
import org.limeprotocol.core.*

const val TIMEOUT_MS = 10_000L

/** A listener that queues every callback; tests take events with a timeout. */
class Recorder(private val onMessageHook: ((Message) -> Unit)? = null) : ChannelListener {
    val events = LinkedBlockingQueue<Any>()

    override fun onMessage(message: Message) {
        onMessageHook?.invoke(message)
        events.put(message)
    }
    override fun onNotification(notification: Notification) { events.put(notification) }
    override fun onCommand(command: Command) { events.put(command) }
    override fun onFinished(session: SessionInfo) { events.put(Finished(session)) }
    override fun onFailed(session: SessionInfo) { events.put(Failed(session)) }
    override fun onClosed(error: String?) { events.put(Closed(error)) }

    /** The next event, which must be a [T]; fails after [TIMEOUT_MS]. */
    inline fun <reified T> next(): T {
        val event = events.poll(TIMEOUT_MS, TimeUnit.MILLISECONDS)
            ?: throw AssertionError("no event within $TIMEOUT_MS ms (expected ${T::class.simpleName})")
        return event as? T ?: throw AssertionError("expected ${T::class.simpleName}, got $event")
    }
}

data class Finished(val session: SessionInfo)
data class Failed(val session: SessionInfo)
data class Closed(val error: String?)

fun check(condition: Boolean, message: () -> String) {
    if (!condition) throw AssertionError(message())
}

fun <T> expectEqual(expected: T, actual: T, what: String) =
    check(expected == actual) { "$what: expected $expected, got $actual" }

var passed = 0
var failed = 0

fun test(name: String, body: suspend () -> Unit) {
    try {
        runBlocking { withTimeout(30_000) { body() } }
        passed++
        println("ok   $name")
    } catch (e: Throwable) {
        failed++
        println("FAIL $name: $e")
        e.printStackTrace(System.out)
    }
}

fun text(to: String, id: String, content: String) = Message(
    id = id, to = to, metadata = mapOf("via" to "kotlin"),
    mediaType = "text/plain", content = content,
)

fun ping() = Command(uri = "/ping", method = CommandMethod.GET, status = CommandStatus.PENDING)

fun main(args: Array<String>) {
    require(args.size in 2..3) { "usage: MainKt <net.tcp://host:port> <ws://host:port> [vectors-dir]" }
    val (tcp, ws) = args
    if (args.size == 3) runVectors(java.io.File(args[2]))
    val receipts = ConnectOptions(autoNotifyReceipt = true)

    lateinit var alice: LimeClient
    lateinit var bob: LimeClient
    val aliceEvents = Recorder()
    // bob answers "echo:" messages from inside the callback, synchronously. The callback's
    // thread stays attached to the JVM: JNA would otherwise try to detach it after the nested
    // callback that completes the call, and print "JNA: could not detach thread".
    val bobEvents = Recorder { m ->
        if (m.content.startsWith("echo:")) {
            Native.detach(false)
            runBlocking { bob.sendMessage(text(m.from!!, "re-${m.id}", m.content.removePrefix("echo:"))) }
        }
    }
    val handles = mutableListOf<TaskHandle>()

    test("establish over TCP with a password") {
        alice = LimeClient.connect(tcp, receipts)
        expectEqual(SessionState.NEW, alice.state(), "state before establish")
        handles += alice.subscribe(aliceEvents) // before establish: nothing is lost
        val info = alice.establish("alice@localhost", "home", Authentication.Plain("wonderland"))
        expectEqual(SessionState.ESTABLISHED, info.state, "state")
        expectEqual("alice@localhost/home", info.localNode, "local node")
        expectEqual("postmaster@localhost/server", info.remoteNode, "remote node")
        check(info.sessionId != null) { "no session id" }
        expectEqual(SessionState.ESTABLISHED, alice.state(), "state()")
    }

    test("establish over WebSocket as a guest") {
        bob = LimeClient.connect(ws, receipts)
        val info = bob.establish("bob@localhost", "phone", Authentication.Guest)
        expectEqual(SessionState.ESTABLISHED, info.state, "state")
        expectEqual("bob@localhost/phone", info.localNode, "local node")
        handles += bob.subscribe(bobEvents)
    }

    test("a message and its automatic receipt") {
        alice.sendMessage(text("bob@localhost/phone", "m1", "hello bob"))
        val m = bobEvents.next<Message>()
        expectEqual("m1", m.id, "id")
        expectEqual("hello bob", m.content, "content")
        expectEqual("alice@localhost/home", m.from, "from")
        expectEqual("kotlin", m.metadata["via"], "metadata")
        val receipt = aliceEvents.next<Notification>()
        expectEqual("m1", receipt.id, "receipt id")
        expectEqual(NotificationEvent.RECEIVED, receipt.event, "receipt event")
        expectEqual("bob@localhost/phone", receipt.from, "receipt from")
    }

    test("JSON content the other way, with its receipt") {
        bob.sendMessage(Message(
            id = "m2", to = "alice@localhost/home",
            mediaType = "application/json", content = """{"n":1,"list":[true,null]}""",
        ))
        val m = aliceEvents.next<Message>()
        expectEqual("application/json", m.mediaType, "media type")
        expectEqual("""{"n":1,"list":[true,null]}""", m.content, "content")
        expectEqual("m2", bobEvents.next<Notification>().id, "receipt id")
    }

    test("a listener may call the client synchronously") {
        alice.sendMessage(text("bob@localhost/phone", "m3", "echo:pong"))
        expectEqual("m3", bobEvents.next<Message>().id, "bob got")
        // alice gets bob's receipt and his reply, in either order.
        val got = listOf(aliceEvents.next<Any>(), aliceEvents.next<Any>())
        val reply = got.filterIsInstance<Message>().single()
        expectEqual("pong", reply.content, "reply")
        expectEqual("re-m3", reply.id, "reply id")
        check(got.filterIsInstance<Notification>().single().id == "m3") { "no receipt in $got" }
        expectEqual("re-m3", bobEvents.next<Notification>().id, "bob's reply receipt")
    }

    test("a command round trip with the server") {
        val response = alice.processCommand(ping(), 5_000uL)
        expectEqual(CommandStatus.SUCCESS, response.status, "status")
        expectEqual("application/vnd.lime.ping+json", response.mediaType, "media type")
        expectEqual("{}", response.resource, "resource")
        check(response.id != null) { "no id on the response" }
    }

    test("50 concurrent commands and a message") {
        coroutineScope {
            val commands = (1..50).map { async { alice.processCommand(ping(), 5_000uL) } }
            val send = async { alice.sendMessage(text("bob@localhost/phone", "m4", "meanwhile")) }
            val responses = commands.awaitAll()
            send.await()
            check(responses.all { it.status == CommandStatus.SUCCESS }) { "a command failed" }
            expectEqual(50, responses.map { it.id }.toSet().size, "distinct ids")
        }
        expectEqual("m4", bobEvents.next<Message>().id, "bob got")
        expectEqual("m4", aliceEvents.next<Notification>().id, "receipt")
    }

    test("a command answered by the other client") {
        coroutineScope {
            // On another thread: this one blocks below, waiting for bob's listener.
            val asking = async(Dispatchers.Default) {
                alice.processCommand(Command(
                    id = "c1", to = "bob@localhost/phone", uri = "/status",
                    method = CommandMethod.GET, status = CommandStatus.PENDING,
                ), 5_000uL)
            }
            val request = bobEvents.next<Command>()
            expectEqual("/status", request.uri, "uri")
            bob.sendCommand(request.copy(
                from = null, to = request.from, uri = null, status = CommandStatus.SUCCESS,
                mediaType = "text/plain", resource = "busy",
            ))
            val response = asking.await()
            expectEqual("busy", response.resource, "resource")
            expectEqual("bob@localhost/phone", response.from, "from")
        }
    }

    test("non-JSON content is the raw text, JSON-looking text included") {
        val raw = """{"looks":"like JSON"} and "quotes" \ too"""
        alice.sendMessage(Message(
            id = "m5", to = "bob@localhost/phone", mediaType = "text/plain", content = raw,
        ))
        val m = bobEvents.next<Message>()
        expectEqual("m5", m.id, "id")
        expectEqual(raw, m.content, "content")
        expectEqual("m5", aliceEvents.next<Notification>().id, "receipt")
    }

    test("metadata arrives as sent") {
        val metadata = mapOf("z" to "1", "a" to "é", "#scope" to "x")
        alice.sendMessage(Message(
            id = "m6", to = "bob@localhost/phone", metadata = metadata,
            mediaType = "text/plain", content = "with metadata",
        ))
        expectEqual(metadata, bobEvents.next<Message>().metadata, "metadata")
        expectEqual("m6", aliceEvents.next<Notification>().id, "receipt")
    }

    test("passwords are given in clear text; the core sends base64") {
        val dora = LimeClient.connect(tcp, ConnectOptions())
        val info = dora.establish("dora@localhost", "a", Authentication.Plain("pässwörd"))
        expectEqual(SessionState.ESTABLISHED, info.state, "state")
        dora.finish()
        dora.close()
        // A host that encodes the password itself sends a different password.
        val encoded = java.util.Base64.getEncoder().encodeToString("pässwörd".toByteArray())
        val again = LimeClient.connect(tcp, ConnectOptions())
        try {
            again.establish("dora@localhost", "b", Authentication.Plain(encoded))
            throw AssertionError("the base64 of the password was accepted")
        } catch (e: LimeException.Session) {
            expectEqual(13, e.code, "code")
        }
        again.close()
    }

    test("a connection closed by the peer is LimeException.Closed") {
        java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1")).use { server ->
            // Reads the client's `new` session envelope, then closes the connection cleanly.
            val peer = Thread {
                server.accept().use { socket ->
                    val input = socket.getInputStream()
                    while (true) {
                        val b = input.read()
                        if (b < 0 || b == '}'.code) break
                    }
                }
            }.apply { start() }
            val client = LimeClient.connect("net.tcp://127.0.0.1:${server.localPort}", ConnectOptions())
            try {
                client.establish("x@localhost", "a", Authentication.Guest)
                throw AssertionError("establish succeeded")
            } catch (e: LimeException.Closed) {
                // expected
            }
            client.close()
            peer.join(TIMEOUT_MS)
            check(!peer.isAlive) { "the peer thread did not end" }
        }
    }

    test("a wrong password fails with reason 13") {
        val carol = LimeClient.connect(tcp, ConnectOptions())
        try {
            carol.establish("alice@localhost", "x", Authentication.Plain("guess"))
            throw AssertionError("establish succeeded")
        } catch (e: LimeException.Session) {
            expectEqual(13, e.code, "code")
        }
        expectEqual(SessionState.FAILED, carol.state(), "state")
        carol.close()
    }

    test("invalid arguments are typed exceptions") {
        try {
            alice.sendMessage(text("@", "x", "y"))
            throw AssertionError("send succeeded")
        } catch (e: LimeException.InvalidArgument) {
            check(e.msg.contains("`to`")) { "message: ${e.msg}" }
        }
        try {
            LimeClient.connect("ftp://nowhere", ConnectOptions())
            throw AssertionError("connect succeeded")
        } catch (e: LimeException.InvalidArgument) {
            check(e.msg.contains("uri")) { "message: ${e.msg}" }
        }
        try {
            LimeClient.connect(tcp, ConnectOptions(trustedRootsPem = "not a certificate"))
            throw AssertionError("connect succeeded")
        } catch (e: LimeException.InvalidArgument) {
            check(e.msg.contains("trusted_roots_pem")) { "message: ${e.msg}" }
        }
    }

    test("finish both sessions") {
        val a = alice.finish()
        expectEqual(SessionState.FINISHED, a.state, "alice")
        expectEqual(SessionState.FINISHED, alice.state(), "alice state()")
        expectEqual("alice@localhost/home", aliceEvents.next<Finished>().session.localNode, "alice node")
        expectEqual(SessionState.FINISHED, bob.finish().state, "bob")
        bobEvents.next<Finished>()
        try {
            alice.sendMessage(text("bob@localhost", "late", "x"))
            throw AssertionError("send after finish succeeded")
        } catch (e: LimeException.Session) {
            expectEqual(15, e.code, "code")
        }
        handles.forEach { it.cancel() }
        alice.close()
        bob.close()
    }

    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0) 0 else 1)
}
