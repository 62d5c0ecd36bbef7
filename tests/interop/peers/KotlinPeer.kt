// Interop peer: OUR Kotlin bindings (lime-ffi through uniffi + JNA), the same scenario as the
// other peers. Compiled by tests/interop/run.sh against target/uniffi/kotlin-tests.jar (the
// generated bindings, built by `make test-kotlin`) and run by tests/interop/harness.py.
//
// Usage: interop.KotlinPeerKt --uri URI --cell ID --instance NAME --partner NODE
//                             [--encryption none|tls] [--user U] [--password P]
//        interop.KotlinPeerKt --probe        (loads the native library; prints {"probe":"ok"})
// The test CA, when the cell uses TLS, is read from $SSL_CERT_FILE (set by the harness).
//
// Prints {"ready": NODE} once the main session is established and one result line
// {"cell": ..., "steps": {...}, "observed": {...}} at the end; what the listeners receive goes
// to standard error as `< kind ...`. Steps: the names of the other peers, except `receipt_out`
// (receipts and ping answers are sent by the Rust core; the harness checks them where they
// arrive: receipt_at_partner, ping_answered).

package interop

import java.io.File
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlin.system.exitProcess
import kotlinx.coroutines.runBlocking
import org.limeprotocol.*
import org.limeprotocol.core.*

const val WAIT_MS = 10_000L
const val TEXT_TAIL = ": ünïcødé ✓ <&> \"q\""

/** JSON text of strings, booleans, numbers, null, maps and lists; non-ASCII as \u escapes so
 * the output does not depend on the JVM's stdout encoding. */
fun json(v: Any?): String = when (v) {
    null -> "null"
    is Boolean, is Number -> v.toString()
    is Map<*, *> -> v.entries.joinToString(",", "{", "}") { (k, x) -> json(k.toString()) + ":" + json(x) }
    is List<*> -> v.joinToString(",", "[", "]") { json(it) }
    else -> buildString {
        append('"')
        for (c in v.toString()) when {
            c == '"' -> append("\\\"")
            c == '\\' -> append("\\\\")
            c < ' ' || c > '~' -> append("\\u%04x".format(c.code))
            else -> append(c)
        }
        append('"')
    }
}

/** Queues every callback; the scenario takes the first event matching a predicate. */
class Inbox : ChannelListener {
    private val events = LinkedBlockingQueue<Any>()
    private val stash = mutableListOf<Any>()

    private fun put(kind: String, event: Any) {
        System.err.println("< $kind $event")
        events.put(event)
    }

    override fun onMessage(message: Message) = put("message", message)
    override fun onNotification(notification: Notification) = put("notification", notification)
    override fun onCommand(command: Command) = put("command", command)
    override fun onFinished(session: SessionInfo) = put("finished", session)
    override fun onFailed(session: SessionInfo) = put("failed", session)
    override fun onClosed(error: String?) = put("closed", error ?: "")

    inline fun <reified T : Any> expect(what: String, crossinline predicate: (T) -> Boolean): T =
        take(what) { it is T && predicate(it) } as T

    fun take(what: String, predicate: (Any) -> Boolean): Any {
        stash.firstOrNull(predicate)?.let { stash.remove(it); return it }
        val deadline = System.nanoTime() + WAIT_MS * 1_000_000
        while (true) {
            val left = deadline - System.nanoTime()
            val event = events.poll(maxOf(left, 0), TimeUnit.NANOSECONDS)
                ?: throw IllegalStateException("timed out waiting for $what")
            if (predicate(event)) return event
            stash.add(event)
        }
    }
}

class StepFailed(name: String) : Exception(name)

class Scenario(private val a: Map<String, String>) {
    val steps = linkedMapOf<String, String>()
    val observed = linkedMapOf<String, Any?>()
    private val cell = a.getValue("cell")
    private val instance = a.getValue("instance")
    private val user = a["user"] ?: "alice@localhost"
    private val password = a["password"] ?: "wonderland"
    private val ca = System.getenv("SSL_CERT_FILE")?.takeIf { it.isNotEmpty() }?.let { File(it).readText() }
    private val uri = a.getValue("uri")

    private fun step(name: String, ok: Boolean, detail: () -> String = { "" }) {
        steps[name] = if (ok) "pass" else "fail: ${detail()}".trimEnd(':', ' ')
        if (!ok) throw StepFailed(name)
    }

    private val usesTls = a["encryption"] == "tls" || uri.startsWith("wss:")

    private fun options(main: Boolean, trustCa: Boolean = true) = ConnectOptions(
        trustedRootsPem = if (trustCa) ca else null,
        encryption = a["encryption"],
        autoNotifyReceipt = main,
        deliverAnsweredPings = main, // to know when the partner's ping has been answered
    )

    private suspend fun connect(main: Boolean = false): Pair<LimeClient, Inbox> {
        val client = LimeClient.connect(uri, options(main))
        val inbox = Inbox()
        handles += client.subscribe(inbox)
        return client to inbox
    }

    private val handles = mutableListOf<TaskHandle>()

    private suspend fun establish(name: String, client: LimeClient, identity: String, auth: Authentication): SessionInfo {
        val info = client.establish(identity, instance, auth)
        step(name, info.state == SessionState.ESTABLISHED && client.state() == SessionState.ESTABLISHED) {
            "state ${info.state}"
        }
        return info
    }

    private suspend fun finish(name: String, client: LimeClient) {
        val info = client.finish()
        step(name, info.state == SessionState.FINISHED) { "state ${info.state}" }
        client.close()
    }

    /** Without the test CA the same connection must be refused: TLS is on the wire. */
    private suspend fun tls() {
        val outcome = try {
            val client = LimeClient.connect(uri, options(main = false, trustCa = false))
            try {
                "established: ${client.establish("guest-$instance@localhost", "$instance-t", Authentication.Guest).state}"
            } finally {
                client.close()
            }
        } catch (e: LimeException) {
            "${e.javaClass.simpleName}: ${e.message}"
        }
        observed["untrusted"] = outcome
        step("tls_verified", "certificate" in outcome.lowercase()) { outcome }
    }

    private suspend fun guest() {
        val (client, inbox) = connect()
        establish("establish_guest", client, "guest-$instance@localhost", Authentication.Guest)
        val pong = client.processCommand(
            Command(uri = "/ping", method = CommandMethod.GET, status = CommandStatus.PENDING), WAIT_MS.toULong())
        step("command", pong.status == CommandStatus.SUCCESS && pong.mediaType == "application/vnd.lime.ping+json") {
            "$pong"
        }
        val lost = "$cell-lost"
        client.sendMessage(Message(id = lost, to = "nobody@localhost/void", mediaType = "text/plain", content = "to nobody"))
        val failed = inbox.expect<Notification>("the failed notification") { it.id == lost && it.event == NotificationEvent.FAILED }
        step("unknown_destination", failed.reason?.code == 42) { "reason ${failed.reason}" }
        finish("finish_guest", client)
    }

    private suspend fun wrongPassword() {
        val (client, _) = connect()
        val outcome = try {
            "established: ${client.establish(user, instance, Authentication.Plain("not-$password")).state}"
        } catch (e: LimeException.Session) {
            observed["wrong_password_code"] = e.code
            "LimeException.Session(${e.code}, ${e.description})"
        }
        observed["wrong_password"] = outcome
        step("wrong_password", observed["wrong_password_code"] == 13 && client.state() == SessionState.FAILED) {
            "$outcome, state ${client.state()}"
        }
        client.close()
    }

    private suspend fun main() {
        val partner = a.getValue("partner")
        val (client, inbox) = connect(main = true)
        val info = establish("establish_plain", client, user, Authentication.Plain(password))
        println(json(mapOf("ready" to info.localNode)))

        val out = "$cell-out"
        // No step of its own for the send: the message is judged where it arrives (B1's copy, the
        // harness's message_delivered; B1's receipt, receipt_in). A send that throws fails receipt_in.
        client.sendMessage(Message(id = out, to = partner, mediaType = "text/plain", content = "hello from $cell$TEXT_TAIL"))
        val receipt = inbox.expect<Notification>("the receipt") { it.id == out && it.event == NotificationEvent.RECEIVED }
        step("receipt_in", receipt.from.orEmpty().lowercase().startsWith(partner.lowercase())) { "receipt from ${receipt.from}" }

        val incoming = inbox.expect<Message>("the partner's message") { it.mediaType == "text/plain" }
        step("message_in", incoming.id != null && incoming.from != null) { "message $incoming" }
        observed["message_in"] = mapOf("id" to incoming.id, "from" to incoming.from, "content" to incoming.content)
        // The partner pings us after its message: the core answers it and, as asked
        // (deliverAnsweredPings), still hands it to the listener; wait for it before finishing.
        val ping = inbox.expect<Command>("the partner's ping") { it.uri == "/ping" && it.status == CommandStatus.PENDING }
        observed["ping_delivered_to_application"] = ping.id != null
        finish("finish", client)
    }

    fun run() {
        val phases = listOfNotNull(
            if (usesTls) Triple("tls", ::tls, listOf("tls_verified")) else null,
            Triple("guest", ::guest, listOf("establish_guest", "command", "unknown_destination", "finish_guest")),
            Triple("wrong_password", ::wrongPassword, listOf("wrong_password")),
            Triple("main", ::main, listOf("establish_plain", "receipt_in", "message_in", "finish")),
        )
        for ((_, phase, names) in phases) {
            try {
                runBlocking { phase() }
            } catch (e: StepFailed) {
                // recorded by step()
            } catch (e: Throwable) {
                val broken = names.firstOrNull { it !in steps } ?: names.last()
                steps[broken] = "fail: ${e.javaClass.simpleName} ${e.message ?: ""}".trim()
            }
        }
        handles.forEach { it.cancel() }
        println(json(mapOf("cell" to cell, "steps" to steps, "observed" to observed)))
    }
}

fun main(args: Array<String>) {
    if (args.singleOrNull() == "--probe") {
        println(json(mapOf("probe" to if (parseNode("a@b/c").instance == "c") "ok" else "wrong")))
        exitProcess(0)
    }
    require(args.size % 2 == 0) { "arguments come in --name value pairs" }
    val a = args.toList().chunked(2).associate { (k, v) -> k.removePrefix("--") to v }
    for (k in listOf("uri", "cell", "instance", "partner")) require(k in a) { "--$k is required" }
    Scenario(a).run()
    System.out.flush()
    exitProcess(0) // the library's runtime threads must not keep the JVM up
}
