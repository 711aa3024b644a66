using System.Text;

namespace IoTMastery.Sdk.TestSupport.Fuzz;

/// <summary>
/// Deterministic hostile inputs for parser fuzz tests: a fixed corpus (NaN/Infinity, huge numbers, invalid UTF-8,
/// 10,000-deep nesting, duplicate keys, oversize payloads) plus seeded mutations of valid payloads.
/// </summary>
public static class FuzzInputs
{
    /// <summary>Depth of the deeply nested corpus entries.</summary>
    public const int DeepNesting = 10_000;

    /// <summary>The fixed corpus every parser sees, independent of its valid seeds.</summary>
    public static IEnumerable<byte[]> Corpus()
    {
        string[] texts =
        [
            "", " ", "null", "true", "0", "-0", "\"\"", "[]", "{}", "[{}]", "{\"\":null}",
            "NaN", "Infinity", "-Infinity", "[NaN]", "{\"v\":NaN}", "{\"v\":Infinity}", "{\"v\":-Infinity}", "{\"status\":NaN}",
            "1e999999", "-1e309", "{\"v\":1e400}", "{\"status\":1e400}", "{\"status\":99999999999999999999999}", "{\"status\":-2147483649}",
            "{\"status\":200.5}", "{\"status\":\"200\"}", "{\"t\":9223372036854775808}", "{\"t\":-9223372036854775809}",
            "{\"a\":1,\"a\":2}", "{\"status\":200,\"status\":500}", "{\"firmware\":{},\"firmware\":{}}",
            "{\"error\":{\"status\":1},\"error\":[]}", "{\"Message\":\"{\\\"Message\\\":\\\"{}\\\"}\"}",
            "\"\\uD800\"", "{\"\\uDC00\":\"\\uD800\"}", "{\"a\":\"\\u0000\"}", "/* c */ {}", "{} trailing", "{\"a\":1,}", "[1,]",
            "{\"a\" 1}", "{'a':1}", "{a:1}", "\"unterminated", "{\"a\":", "[", "]", "}", "{", ":", ",",
        ];
        foreach (var t in texts) yield return Encoding.UTF8.GetBytes(t);
        yield return [0xFF];
        yield return [0xC0, 0x80];
        yield return [0xED, 0xA0, 0x80];
        yield return [0xEF, 0xBB, 0xBF, (byte)'{', (byte)'}'];
        yield return [(byte)'{', (byte)'"', 0xFE, (byte)'"', (byte)':', (byte)'1', (byte)'}'];
        yield return [(byte)'"', 0xF8, 0x88, 0x80, 0x80, 0x80, (byte)'"'];
        yield return [0];
        yield return Encoding.UTF8.GetBytes(new string('[', DeepNesting) + new string(']', DeepNesting));
        yield return Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("{\"a\":", DeepNesting)) + "1" + new string('}', DeepNesting));
        yield return Encoding.UTF8.GetBytes(new string('[', DeepNesting));
        yield return Encoding.UTF8.GetBytes("{\"s\":\"" + new string('x', 1 << 20) + "\"}");
        yield return Encoding.UTF8.GetBytes("[" + string.Join(',', Enumerable.Repeat("{}", 100_000)) + "]");
        yield return Encoding.UTF8.GetBytes("{" + string.Join(',', Enumerable.Range(0, 20_000).Select(i => $"\"k{i}\":{i}")) + "}");
        yield return Encoding.UTF8.GetBytes("1" + new string('0', 100_000));
    }

    /// <summary>The corpus, the seeds themselves, then <paramref name="count"/> seeded mutations of the seeds.</summary>
    public static IEnumerable<byte[]> For(int seed, int count, params string[] validSeeds)
    {
        foreach (var c in Corpus()) yield return c;
        var seeds = validSeeds.Select(Encoding.UTF8.GetBytes).ToArray();
        foreach (var s in seeds) yield return s;
        var random = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            var input = seeds[random.Next(seeds.Length)];
            // Stacked mutations reach states a single one cannot.
            int rounds = 1 + random.Next(3);
            for (int r = 0; r < rounds; r++) input = Mutate(random, input);
            yield return input;
        }
    }

    /// <summary>One random mutation: bit flip, invalid UTF-8, truncation, splice, or a hostile token inserted or swapped in.</summary>
    public static byte[] Mutate(Random random, byte[] input)
    {
        if (input.Length == 0) return Token(random);
        var list = new List<byte>(input);
        int at = random.Next(input.Length);
        switch (random.Next(9))
        {
            case 0: list[at] ^= (byte)(1 << random.Next(8)); break;
            case 1: list[at] = InvalidUtf8[random.Next(InvalidUtf8.Length)]; break;
            case 2: return input[..at];
            case 3: list.InsertRange(at, Token(random)); break;
            case 4: list.RemoveRange(at, Math.Min(random.Next(1, 8), list.Count - at)); break;
            case 5:
                int len = Math.Min(random.Next(1, 32), input.Length - at);
                list.InsertRange(random.Next(list.Count), input.AsSpan(at, len).ToArray());
                break;
            case 6: return ReplaceValue(random, input);
            case 7: return DuplicateFirstMember(input);
            default: list[at] = Structural[random.Next(Structural.Length)]; break;
        }
        return [.. list];
    }

    private static readonly byte[] InvalidUtf8 = [0x80, 0xBF, 0xC0, 0xC1, 0xF5, 0xFE, 0xFF, 0xED];
    private static readonly byte[] Structural = "{}[]:,\"\\ 0-.eE"u8.ToArray();

    private static readonly string[] Tokens =
    [
        "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "99999999999999999999999999", "-9223372036854775809", "0.5", "-1", "0",
        "null", "true", "\"\"", "\"x\"", "[]", "{}", "[[[[[[[[", "]]]]", "\"\\uD800\"", "\"\\u0000\"", "\"\\", "1.7976931348623157e309",
    ];

    private static byte[] Token(Random random) => random.Next(10) == 0
        ? Encoding.UTF8.GetBytes(new string('[', 100 + random.Next(2000)))
        : Encoding.UTF8.GetBytes(Tokens[random.Next(Tokens.Length)]);

    // Swaps the value after a random ':' for a hostile token, keeping the document otherwise well formed: wrong types, NaN, huge numbers.
    private static byte[] ReplaceValue(Random random, byte[] input)
    {
        var text = Encoding.UTF8.GetString(input);
        var colons = Enumerable.Range(0, text.Length).Where(i => text[i] == ':').ToArray();
        if (colons.Length == 0) return input;
        int start = colons[random.Next(colons.Length)] + 1;
        int end = start, depth = 0;
        bool inString = false;
        for (; end < text.Length; end++)
        {
            char c = text[end];
            if (inString) { if (c == '\\') end++; else if (c == '"') inString = false; continue; }
            if (c == '"') inString = true;
            else if (c is '{' or '[') depth++;
            else if (c is '}' or ']') { if (depth == 0) break; depth--; }
            else if (c == ',' && depth == 0) break;
        }
        string token = random.Next(4) == 0
            ? string.Concat(Enumerable.Repeat("{\"a\":", 70)) + "1" + new string('}', 70)
            : Tokens[random.Next(Tokens.Length)];
        end = Math.Min(end, text.Length);
        return Encoding.UTF8.GetBytes(text[..start] + token + text[end..]);
    }

    // Repeats the first member of an object so the document carries a duplicate key.
    private static byte[] DuplicateFirstMember(byte[] input)
    {
        var text = Encoding.UTF8.GetString(input);
        int open = text.IndexOf('{');
        int comma = open < 0 ? -1 : text.IndexOf(',', open);
        if (comma < 0) return input;
        var member = text[(open + 1)..comma];
        return Encoding.UTF8.GetBytes(text[..(open + 1)] + member + "," + text[(open + 1)..]);
    }

    /// <summary>
    /// Runs <paramref name="parse"/> over every input on a worker thread, each call bounded by <paramref name="perCall"/>,
    /// and returns a description of each input that threw an exception <paramref name="isTyped"/> does not accept.
    /// </summary>
    public static List<string> Run(IEnumerable<byte[]> inputs, Action<byte[]> parse, Func<Exception, bool> isTyped, TimeSpan? perCall = null)
    {
        var bound = perCall ?? TimeSpan.FromSeconds(5);
        var failures = new List<string>();
        int n = 0;
        foreach (var input in inputs)
        {
            n++;
            var task = Task.Run(() => parse(input));
            // Waiting on the handle, not Wait(), so a faulted task is inspected rather than rethrown.
            if (!((IAsyncResult)task).AsyncWaitHandle.WaitOne(bound))
            {
                failures.Add($"#{n}: no answer within {bound.TotalSeconds}s for {Describe(input)}");
                continue;
            }
            if (task.Exception?.InnerException is { } ex && !isTyped(ex))
                failures.Add($"#{n}: {ex.GetType().Name}: {ex.Message} for {Describe(input)}");
            if (failures.Count >= 10) break;
        }
        if (n == 0) failures.Add("no inputs");
        return failures;
    }

    /// <summary>A short printable form of an input for a failure message.</summary>
    public static string Describe(byte[] input)
    {
        var head = input.Length > 120 ? input[..120] : input;
        return $"{input.Length} bytes: {Encoding.UTF8.GetString(head).Replace("\n", "\\n", StringComparison.Ordinal)}{(input.Length > 120 ? "…" : "")}";
    }
}
