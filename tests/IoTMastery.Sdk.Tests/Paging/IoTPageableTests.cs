namespace IoTMastery.Sdk.Tests.Paging;

/// <summary>
/// The one pageable every provider's listings use, over an in-memory source of 25 items: tokens resume a new listing,
/// name their listing, and every bad input fails at <see cref="IoTPageable{T}.AsPages"/> before the source is read.
/// (Each provider's native cursor behind these tokens is proven by the contract suite's registry scenarios.)
/// </summary>
public class IoTPageableTests
{
    private static readonly string[] Source = Enumerable.Range(0, 25).Select(i => $"item-{i:00}").ToArray();

    private sealed class Reader
    {
        public int Calls;
        public readonly List<int> PageSizes = [];

        // A native cursor as the Local registry keeps one: the last item of the page.
        public Task<(IReadOnlyList<string> Items, string? NextCursor)> ReadAsync(string? after, int size, CancellationToken ct)
        {
            ct.ThrowIfCancellationRequested();
            Calls++;
            PageSizes.Add(size);
            var rest = Source.Where(s => after is null || string.CompareOrdinal(s, after) > 0).ToList();
            var page = rest.Take(size).ToList();
            return Task.FromResult<(IReadOnlyList<string>, string?)>((page, rest.Count > size ? page[^1] : null));
        }
    }

    private static CursorPageable<string> Listing(Reader reader, string filter = "a", CancellationToken ct = default) =>
        new(PageScope.Of("items", "test", filter), 10, reader.ReadAsync, cursorIsValid: c => c.StartsWith("item-", StringComparison.Ordinal), ct);

    [Fact]
    public async Task Items_and_pages_read_the_same_listing_and_a_token_resumes_a_new_one()
    {
        var reader = new Reader();
        Assert.Equal(Source, await Listing(reader).ToListAsync());

        var pages = await Listing(reader).AsPages().ToListAsync();
        Assert.Equal([10, 10, 5], pages.Select(p => p.Items.Count));
        Assert.Null(pages[^1].ContinuationToken);

        var resumed = (await Listing(new Reader()).AsPages(pages[0].ContinuationToken).ToListAsync()).SelectMany(p => p.Items);
        Assert.Equal(Source[10..], resumed);
    }

    [Fact]
    public async Task The_page_size_hint_reaches_the_source_and_bad_input_fails_before_it()
    {
        var reader = new Reader();
        var token = (await Listing(reader).AsPages().FirstAsync()).ContinuationToken!;
        Assert.Equal(3, (await Listing(reader).AsPages(pageSizeHint: 3).FirstAsync()).Items.Count);
        Assert.Equal([10, 3], reader.PageSizes);

        var untouched = new Reader();
        Assert.Throws<ArgumentOutOfRangeException>(() => Listing(untouched).AsPages(pageSizeHint: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Listing(untouched).AsPages(pageSizeHint: 1001));
        // The token with its first digest character changed: same shape, another listing.
        var tampered = "iotm1." + (token[6] == 'A' ? 'B' : 'A') + token[7..];
        foreach (var bad in new[] { "", "garbage", "iotm1.", "iotm1.@@@@", tampered, "v1." + token })
            Assert.Throws<ArgumentException>(() => Listing(untouched).AsPages(bad));
        // A token of the same kind but other filters, or another kind, or another provider: its listing is named in it.
        Assert.Throws<ArgumentException>(() => Listing(untouched, filter: "b").AsPages(token));
        Assert.Throws<ArgumentException>(() => new CursorPageable<string>(PageScope.Of("other", "test", "a"), 10, untouched.ReadAsync, null, default).AsPages(token));
        Assert.Throws<ArgumentException>(() => new CursorPageable<string>(PageScope.Of("items", "another", "a"), 10, untouched.ReadAsync, null, default).AsPages(token));
        // A well-formed token whose cursor the source could never have issued.
        Assert.Throws<ArgumentException>(() => Listing(untouched).AsPages(PageScope.Of("items", "test", "a").Encode("dev/1")));
        Assert.Equal(0, untouched.Calls);
    }

    [Fact]
    public void The_message_of_a_refused_token_does_not_repeat_it()
    {
        var secretLooking = "iotm1." + new string('Q', 40);
        var ex = Assert.Throws<ArgumentException>(() => Listing(new Reader()).AsPages(secretLooking));
        Assert.DoesNotContain(secretLooking, ex.Message, StringComparison.Ordinal);
        Assert.Equal("continuationToken", ex.ParamName);
    }

    [Fact]
    public async Task Filters_are_part_of_the_scope_so_null_and_empty_differ()
    {
        var reader = new Reader();
        var token = (await new CursorPageable<string>(PageScope.Of("items", "test", (string?)null), 10, reader.ReadAsync, null, default).AsPages().FirstAsync()).ContinuationToken!;
        Assert.Throws<ArgumentException>(() => new CursorPageable<string>(PageScope.Of("items", "test", ""), 10, reader.ReadAsync, null, default).AsPages(token));
    }

    [Fact]
    public async Task The_list_calls_token_and_the_enumerations_token_both_cancel()
    {
        using var listCall = new CancellationTokenSource();
        var listing = Listing(new Reader(), ct: listCall.Token);
        await listCall.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await listing.ToListAsync());

        using var enumeration = new CancellationTokenSource();
        await enumeration.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await Listing(new Reader()).ToListAsync(enumeration.Token));
    }

    [Fact]
    public async Task A_mapped_listing_keeps_the_inner_tokens_and_checks()
    {
        var inner = Listing(new Reader());
        var mapped = new MappedPageable<string, int>(inner, s => int.Parse(s[5..], System.Globalization.CultureInfo.InvariantCulture));
        var first = await mapped.AsPages().FirstAsync();
        Assert.Equal(Enumerable.Range(0, 10), first.Items);
        Assert.Equal(Source[10..], (await inner.AsPages(first.ContinuationToken).ToListAsync()).SelectMany(p => p.Items));
        Assert.Throws<ArgumentException>(() => mapped.AsPages("garbage"));
    }

    [Fact]
    public async Task FromPages_fakes_a_listing_that_resumes_after_a_pages_token()
    {
        var fake = IoTPageable<string>.FromPages([new(["a", "b"], "t1"), new(["c"], "t2"), new(["d"], null)]);
        Assert.Equal(["a", "b", "c", "d"], await fake.ToListAsync());
        Assert.Equal(["c", "d"], (await fake.AsPages("t1").ToListAsync()).SelectMany(p => p.Items));
    }
}
