namespace IoTMastery.Sdk.Tests.Errors;

/// <summary>
/// Issue #12 item 10: messages that repeat a rejected id or other input must not carry it raw, or a NUL, a line break, a
/// bidi override or a lone surrogate forges or hides log lines. Non-printable characters are escaped as \n, \0, \uXXXX.
/// </summary>
public sealed class EchoedInputTests
{
    // Each hostile value with the escaped form it must appear as.
    public static TheoryData<string, string> Hostile => new()
    {
        { "dev\n2026-12-07 INFO admin logged in", @"dev\n2026-12-07 INFO admin logged in" },
        { "dev\r\nX", @"dev\r\nX" },
        { "nul\0byte", @"nul\0byte" },
        { "tab\there", @"tab\there" },
        { "rtl\u202Egnp.exe", @"rtl\u202Egnp.exe" },
        { "iso\u2066late\u2069", @"iso\u2066late\u2069" },
        { "lone\uD800high", @"lone\uD800high" },
        { "lone\uDC00low", @"lone\uDC00low" },
        { "line\u2028sep", @"line\u2028sep" },
        { "esc\u001B[31mred", @"esc\u001B[31mred" },
        { "del\u007F", @"del\u007F" },
        { "back\\slash\n", @"back\\slash\n" },
    };

    [Theory]
    [MemberData(nameof(Hostile), DisableDiscoveryEnumeration = true)] // xUnit would round-trip lone surrogates through UTF-8 as U+FFFD
    public void Device_id_rules_escape_the_rejected_id(string id, string escaped)
    {
        foreach (var rules in new[] { DeviceIdRules.Local, DeviceIdRules.Aws, DeviceIdRules.Azure, DeviceIdRules.Gcp })
        {
            var ex = Assert.Throws<ArgumentException>(() => rules.Validate(id));
            AssertPrintable(ex.Message);
            Assert.Contains($"'{escaped}'", ex.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(Hostile), DisableDiscoveryEnumeration = true)] // xUnit would round-trip lone surrogates through UTF-8 as U+FFFD
    public void Error_types_that_name_a_device_escape_it_in_the_message_and_keep_it_raw_in_the_property(string id, string escaped)
    {
        var notFound = IoTException.DeviceNotFound(id, "Local");
        var offline = IoTException.DeviceOffline(id, "Local");
        var timeout = IoTException.CommandTimeout(id, "reboot\n", TimeSpan.FromSeconds(1), "Local");
        foreach (var message in new[] { notFound.Message, offline.Message, timeout.Message })
        {
            AssertPrintable(message);
            Assert.Contains($"'{escaped}'", message, StringComparison.Ordinal);
        }
        Assert.Equal((id, id, id), (notFound.DeviceId, offline.DeviceId, timeout.DeviceId));
    }

    [Theory]
    [MemberData(nameof(Hostile), DisableDiscoveryEnumeration = true)] // xUnit would round-trip lone surrogates through UTF-8 as U+FFFD
    public void Argument_checks_of_commands_releases_and_records_escape_what_they_echo(string value, string escaped)
    {
        var command = Assert.Throws<ArgumentException>(() => new DeviceCommand { Name = value }.Validate());
        var release = Assert.Throws<ArgumentException>(() => new FirmwareRelease { Version = value, Uri = new Uri("https://x/y"), Sha256 = new string('a', 64), SizeBytes = 1 }.Validate());
        var record = Assert.Throws<ArgumentException>(() => new TelemetryRecord("dev-1", value, double.NaN, DateTimeOffset.UnixEpoch));
        var format = Assert.Throws<FormatException>(() => FirmwareStateContract.FromWire(value));
        foreach (var message in new[] { command.Message, release.Message, record.Message, format.Message })
        {
            AssertPrintable(message);
            Assert.Contains(escaped, message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_shared_mqtt_client_escapes_a_rejected_topic()
    {
        await using var client = new IoTMastery.Sdk.Mqtt.MqttDeviceClient(new IoTMastery.Sdk.Mqtt.MqttDeviceClientOptions { Host = "127.0.0.1", Port = 1, ClientId = "dev-1" }, "Test");
        var publish = await Assert.ThrowsAsync<ArgumentException>(() => client.PublishAsync("devices/+\n2026 INFO forged\u202E", ReadOnlyMemory<byte>.Empty));
        var transport = Assert.Throws<ArgumentException>(() => new IoTMastery.Sdk.Mqtt.MqttTelemetryTransport(client, "t/#\n2026 INFO forged\u202E"));
        foreach (var message in new[] { publish.Message, transport.Message })
        {
            AssertPrintable(message);
            Assert.Contains(@"\n2026 INFO forged\u202E", message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_huge_hostile_id_is_cut_and_still_escaped()
    {
        var ex = Assert.Throws<ArgumentException>(() => DeviceIdRules.Local.Validate(string.Concat(Enumerable.Repeat("\u202E\n", 5_000))));
        AssertPrintable(ex.Message);
        Assert.True(ex.Message.Length < 1_000, ex.Message);
        Assert.Contains("…", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(".")]
    [InlineData("..")]
    public void Local_rejects_the_path_like_ids_dot_and_dot_dot(string id)
    {
        Assert.False(DeviceIdRules.Local.IsValid(id));
        var ex = Assert.Throws<ArgumentException>(() => DeviceIdRules.Local.Validate(id));
        Assert.Contains("'.' and '..'", ex.Message, StringComparison.Ordinal);
        // Dots inside an id stay valid.
        Assert.True(DeviceIdRules.Local.IsValid("..a"));
        Assert.True(DeviceIdRules.Local.IsValid("a.b"));
        Assert.True(DeviceIdRules.Local.IsValid("..."));
    }

    // No control, format, separator or unpaired surrogate character may reach a log line.
    private static void AssertPrintable(string message)
    {
        for (var i = 0; i < message.Length; i++)
        {
            var c = message[i];
            if (char.IsHighSurrogate(c) && i + 1 < message.Length && char.IsLowSurrogate(message[i + 1])) { i++; continue; }
            var category = char.GetUnicodeCategory(c);
            Assert.False(category is System.Globalization.UnicodeCategory.Control or System.Globalization.UnicodeCategory.Format
                    or System.Globalization.UnicodeCategory.LineSeparator or System.Globalization.UnicodeCategory.ParagraphSeparator
                    or System.Globalization.UnicodeCategory.Surrogate,
                $"U+{(int)c:X4} at {i} in: {message}");
        }
    }
}
