// The cross-language vectors (tests/vectors, format in its README) through the Kotlin bindings,
// checked the way core/tests/vectors.rs checks them in Rust.
//
// Kotlin reads the vector files with its own small JSON reader (no JSON library on the
// classpath) and does every comparison itself: the bindings only parse and write LIME text
// (`canonicalizeEnvelope`, `parseNode`, `compareNodes`, `parseMediaType`, `parseUri`,
// `decodeStream`), and their output is read back with the same Kotlin reader. Rust's
// `jsonEquals` is asked too, as a second opinion that must agree with Kotlin's.
//
// Called from Main.kt; counts one test per case in the program's `passed`/`failed` totals.

import java.io.File
import java.math.BigDecimal
import org.limeprotocol.*

/** JSON `null` (Kotlin `null` is "key absent"). */
object JsonNull {
    override fun toString() = "null"
}

/** A strict RFC 8259 reader: objects become LinkedHashMap, arrays List, numbers BigDecimal. */
class JsonReader private constructor(private val s: String) {
    private var i = 0

    companion object {
        fun parse(text: String): Any {
            val r = JsonReader(text)
            val v = r.value()
            r.ws()
            if (r.i != text.length) r.fail("trailing text")
            return v
        }
    }

    private fun fail(why: String): Nothing = throw IllegalArgumentException("JSON: $why at $i")

    private fun ws() {
        while (i < s.length && s[i] in " \t\r\n") i++
    }

    private fun value(): Any {
        ws()
        if (i >= s.length) fail("unexpected end")
        return when (s[i]) {
            '{' -> obj()
            '[' -> arr()
            '"' -> str()
            't' -> literal("true", true)
            'f' -> literal("false", false)
            'n' -> literal("null", JsonNull)
            else -> num()
        }
    }

    private fun literal(word: String, v: Any): Any {
        if (!s.startsWith(word, i)) fail("bad literal")
        i += word.length
        return v
    }

    private fun obj(): Map<String, Any> {
        val m = LinkedHashMap<String, Any>()
        i++
        ws()
        if (s.getOrNull(i) == '}') { i++; return m }
        while (true) {
            ws()
            if (s.getOrNull(i) != '"') fail("expected a key")
            val k = str()
            ws()
            if (s.getOrNull(i) != ':') fail("expected ':'")
            i++
            if (m.put(k, value()) != null) fail("duplicate key $k")
            ws()
            when (s.getOrNull(i)) {
                ',' -> i++
                '}' -> { i++; return m }
                else -> fail("expected ',' or '}'")
            }
        }
    }

    private fun arr(): List<Any> {
        val l = ArrayList<Any>()
        i++
        ws()
        if (s.getOrNull(i) == ']') { i++; return l }
        while (true) {
            l.add(value())
            ws()
            when (s.getOrNull(i)) {
                ',' -> i++
                ']' -> { i++; return l }
                else -> fail("expected ',' or ']'")
            }
        }
    }

    private fun str(): String {
        val b = StringBuilder()
        i++
        while (true) {
            if (i >= s.length) fail("unterminated string")
            val c = s[i++]
            when {
                c == '"' -> return b.toString()
                c < ' ' -> fail("raw control character")
                c != '\\' -> b.append(c)
                else -> when (val e = s.getOrNull(i++)) {
                    '"', '\\', '/' -> b.append(e)
                    'b' -> b.append('\b')
                    'f' -> b.append('\u000c')
                    'n' -> b.append('\n')
                    'r' -> b.append('\r')
                    't' -> b.append('\t')
                    'u' -> {
                        if (i + 4 > s.length) fail("short \\u escape")
                        b.append(s.substring(i, i + 4).toInt(16).toChar()) // surrogates pair up
                        i += 4
                    }
                    else -> fail("bad escape")
                }
            }
        }
    }

    private fun num(): BigDecimal {
        val m = Regex("""-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?""").matchAt(s, i)
            ?: fail("bad value")
        i += m.value.length
        return BigDecimal(m.value)
    }
}

/** Writes a value read by [JsonReader] back as JSON text. */
fun jsonText(v: Any): String = when (v) {
    is Map<*, *> -> v.entries.joinToString(",", "{", "}") { (k, x) -> jsonText(k!!) + ":" + jsonText(x!!) }
    is List<*> -> v.joinToString(",", "[", "]") { jsonText(it!!) }
    is String -> buildString {
        append('"')
        for (c in v) when {
            c == '"' -> append("\\\"")
            c == '\\' -> append("\\\\")
            c < ' ' -> append("\\u%04x".format(c.code))
            else -> append(c)
        }
        append('"')
    }
    is BigDecimal -> v.toPlainString()
    else -> v.toString() // true, false, null
}

/** Structural equality of JSON values (README "How to compare JSON values"). */
fun jsonEq(a: Any?, b: Any?): Boolean = when {
    a is Map<*, *> && b is Map<*, *> -> a.keys == b.keys && a.keys.all { jsonEq(a[it], b[it]) }
    a is List<*> && b is List<*> -> a.size == b.size && a.indices.all { jsonEq(a[it], b[it]) }
    a is BigDecimal && b is BigDecimal -> a.compareTo(b) == 0
    a is String && b is String -> a == b
    a is Boolean && b is Boolean -> a == b
    else -> a === JsonNull && b === JsonNull
}

@Suppress("UNCHECKED_CAST")
fun Any?.obj() = this as Map<String, Any>
@Suppress("UNCHECKED_CAST")
fun Any?.list() = this as List<Any>
fun Any?.str() = this as String
/** A string or JSON null (→ Kotlin null), as the vectors write optional parts. */
fun Any?.optStr(): String? = if (this === JsonNull || this == null) null else this as String

fun show(v: Any?): String = if (v == null) "(absent)" else jsonText(v)

/** One vector file: every case passes or fails as a whole; failures print their detail. */
class VectorFile(val name: String) {
    var cases = 0
    var bad = 0

    fun case(id: String, body: () -> Unit) {
        cases++
        try {
            body()
            passed++
        } catch (e: Throwable) {
            bad++
            failed++
            println("FAIL vectors $name: $id: ${e.message ?: e}")
        }
    }

    fun report() {
        println("${if (bad == 0 && cases > 0) "ok  " else "FAIL"} vectors $name: $cases cases, ${cases - bad} passed, $bad failed")
        if (cases == 0) failed++ // an empty file is a failure of the runner
    }
}

fun expect(ok: Boolean, detail: () -> String) {
    if (!ok) throw AssertionError(detail())
}

fun <T> expectSame(what: String, expected: T, actual: T) =
    expect(expected == actual) { "$what: expected $expected, got $actual" }

/** `body` must throw [CodecException.Invalid]; returns it. */
fun rejected(body: () -> Any): CodecException.Invalid {
    val got = try {
        body()
    } catch (e: CodecException.Invalid) {
        return e
    }
    throw AssertionError("accepted: $got")
}

/** The files this runner runs; the directory and README.md's table must name exactly these. */
val KNOWN_VECTOR_FILES = listOf(
    "envelopes.json", "invalid_envelopes.json", "nodes.json", "media_types.json", "uris.json", "framing.json",
)

/**
 * Cases whose canonical form is not a fixed point, by name: a message whose `content` was `null`
 * is written without content and is no longer a message (PROTOCOL §1.4). Each must exist.
 */
val NOT_A_FIXED_POINT = setOf(
    "message_content_null_is_message_without_content", "message_content_null_wins_over_event",
)

/** A failure of the runner itself (inventory, counts), outside any case. */
fun runnerFailure(what: String) {
    failed++
    println("FAIL vectors: $what")
}

/** The file table of tests/vectors/README.md: file name -> (cases, equality pairs or null). */
fun readmeCounts(dir: File): Map<String, Pair<Int, Int?>> {
    val row = Regex("""^\|\s*`([^`]+\.json)`\s*\|\s*(\d+)(?:\s*\(\+(\d+) equality pairs\))?\s*\|""")
    return File(dir, "README.md").readLines(Charsets.UTF_8).mapNotNull { line ->
        row.find(line)?.let { m -> m.groupValues[1] to (m.groupValues[2].toInt() to m.groupValues[3].toIntOrNull()) }
    }.toMap()
}

fun runVectors(dir: File) {
    val counts = readmeCounts(dir)
    val onDisk = (dir.listFiles() ?: emptyArray()).map { it.name }.filter { it.endsWith(".json") }.toSet()
    if (counts.isEmpty()) runnerFailure("README.md: no `| file | cases |` table found")
    for (f in onDisk - counts.keys) runnerFailure("$f is not in README.md's table")
    for (f in counts.keys - onDisk) runnerFailure("$f is listed in README.md but missing")
    for (f in onDisk - KNOWN_VECTOR_FILES.toSet()) runnerFailure("$f is a vector file this runner does not run")
    for (f in KNOWN_VECTOR_FILES.toSet() - onDisk) runnerFailure("$f is missing (this runner expects it)")

    fun load(file: String): Map<String, Any> {
        val v = JsonReader.parse(File(dir, file).readText(Charsets.UTF_8)).obj()
        val (cases, pairs) = counts[file] ?: (-1 to null)
        val gotCases = v["cases"].list().size
        val gotPairs = v["equality"]?.list()?.size
        if (gotCases != cases) runnerFailure("$file: $gotCases cases, README.md says $cases")
        if (gotPairs != pairs) runnerFailure("$file: $gotPairs equality pairs, README.md says $pairs")
        return v
    }

    // envelopes.json: wire text -> kind + canonical value; the canonical form is a fixed point.
    VectorFile("envelopes.json").apply {
        val cases = load(name)["cases"].list().map { it.obj() }
        for (pinned in NOT_A_FIXED_POINT - cases.map { it["name"].str() }.toSet()) {
            runnerFailure("$name: pinned case $pinned does not exist")
        }
        for (c in cases) case(c["name"].str()) {
            val canonical = c["canonical"]!!
            val got = canonicalizeEnvelope(c["input"].str())
            expectSame("kind", c["kind"].str(), got.kind)
            val written = JsonReader.parse(got.json)
            expect(jsonEq(written, canonical)) { "wrote ${got.json}, expected ${jsonText(canonical)}" }
            expect(jsonEquals(got.json, jsonText(canonical))) { "Rust jsonEquals disagrees (false)" }
            if (c["name"].str() in NOT_A_FIXED_POINT) {
                // Written without content: no longer a message (PROTOCOL §1.4), so no fixed point.
                val e = rejected { canonicalizeEnvelope(got.json) }
                expectSame("reparse error", "not_envelope", e.kind)
            } else {
                val again = canonicalizeEnvelope(jsonText(canonical))
                expectSame("kind of the canonical form", c["kind"].str(), again.kind)
                expect(jsonEq(JsonReader.parse(again.json), canonical)) { "canonical form rewritten as ${again.json}" }
                expectSame("rewrite of our own output", got.json, canonicalizeEnvelope(got.json).json)
            }
        }
        report()
    }

    // invalid_envelopes.json: rejected with the error category (and field, for invalid_field).
    VectorFile("invalid_envelopes.json").apply {
        for (c in load(name)["cases"].list().map { it.obj() }) case(c["name"].str()) {
            val e = rejected { canonicalizeEnvelope(c["input"].str()) }
            expectSame("error kind (${e.msg})", c["error"].str(), e.kind)
            val field = c["field"].optStr()
            if (field != null && e.kind == "invalid_field") expectSame("field (${e.msg})", field, e.field)
        }
        report()
    }

    // nodes.json: parts, display and identity; then the equality pairs, both ways.
    VectorFile("nodes.json").apply {
        val file = load(name)
        for (c in file["cases"].list().map { it.obj() }) case(show(c["input"])) {
            val input = c["input"].str()
            if (c["valid"] == false) {
                expectSame("error kind", "invalid_node", rejected { parseNode(input) }.kind)
                return@case
            }
            val n = parseNode(input)
            expectSame("name", c["name"].optStr(), n.name)
            expectSame("domain", c["domain"].optStr(), n.domain)
            expectSame("instance", c["instance"].optStr(), n.instance)
            expectSame("display", c["display"].str(), n.display)
            expectSame("identity", c["identity"].str(), n.identity)
        }
        for (p in file["equality"].list().map { it.list() }) case("${show(p[0])} vs ${show(p[1])}") {
            val (a, b, equal) = Triple(p[0].str(), p[1].str(), p[2] as Boolean)
            val ab = compareNodes(a, b)
            val ba = compareNodes(b, a)
            expectSame("a == b", equal, ab.nodesEqual)
            expectSame("b == a", equal, ba.nodesEqual)
            if (equal) expect(ab.identitiesEqual && ba.identitiesEqual) { "identities differ" }
        }
        report()
    }

    VectorFile("media_types.json").apply {
        for (c in load(name)["cases"].list().map { it.obj() }) case(show(c["input"])) {
            val input = c["input"].str()
            if (c["valid"] == false) {
                expectSame("error kind", "invalid_media_type", rejected { parseMediaType(input) }.kind)
                return@case
            }
            val m = parseMediaType(input)
            expectSame("type", c["type"].str(), m.typeName)
            expectSame("subtype", c["subtype"].str(), m.subtype)
            expectSame("suffix", c["suffix"].optStr(), m.suffix)
            expectSame("is_json", c["is_json"] as Boolean, m.isJson)
            expectSame("display", c["display"].str(), m.display)
        }
        report()
    }

    VectorFile("uris.json").apply {
        for (c in load(name)["cases"].list().map { it.obj() }) case(show(c["input"])) {
            val input = c["input"].str()
            if (c["valid"] == false) {
                expectSame("error kind", "invalid_uri", rejected { parseUri(input) }.kind)
                return@case
            }
            val u = parseUri(input)
            expectSame("relative", c["relative"] as Boolean, u.relative)
            expectSame("display", c["display"].str(), u.display)
            expectSame("path", c["path"].str(), u.path)
        }
        report()
    }

    // framing.json: the chunks as given, the whole stream at once, and one byte per chunk
    // (splitting multi-byte UTF-8 characters) must all give the same envelopes and error.
    VectorFile("framing.json").apply {
        for (c in load(name)["cases"].list().map { it.obj() }) case(c["name"].str()) {
            val chunks = c["chunks"].list().map { it.str().toByteArray(Charsets.UTF_8) }
            val stream = chunks.fold(ByteArray(0)) { acc, b -> acc + b }
            val max = (c["max_envelope_size"] as BigDecimal?)?.toLong()?.toULong()
            val expected = c["envelopes"].list()
            val error = c["error"]?.obj()
            for ((how, split) in listOf(
                "as given" to chunks,
                "one chunk" to listOf(stream),
                "byte by byte" to stream.map { byteArrayOf(it) },
            )) {
                val r = decodeStream(split, max)
                val got = r.envelopes.map { JsonReader.parse(it) }
                expect(got.size == expected.size && got.indices.all { jsonEq(got[it], expected[it]) }) {
                    "$how: decoded ${r.envelopes}, expected ${jsonText(expected)}"
                }
                if (error == null) {
                    expect(r.errorKind == null) { "$how: unexpected error ${r.errorMessage}" }
                } else {
                    expectSame("$how: error kind (${r.errorMessage})", error["kind"].str(), r.errorKind)
                    expectSame("$how: error offset", (error["offset"] as BigDecimal).toLong().toULong(), r.errorOffset)
                }
            }
        }
        report()
    }
}
