using System.Text;

namespace IoTMastery.Sdk.Tests.Commands;

public sealed class CommandReplyJsonTests
{
    [Fact]
    public void A_reply_with_a_status_and_payload_is_read()
    {
        var reply = CommandReplyJson.TryParse("""{"status":200,"payload":{"uptime":42}}"""u8);
        Assert.NotNull(reply);
        Assert.Equal(200, reply.Status);
        Assert.Equal(42, (int)reply.Payload!["uptime"]!);
    }

    [Theory]
    [InlineData("""{"status":99}""")]
    [InlineData("""{"status":600}""")]
    [InlineData("""{"status":"200"}""")]
    [InlineData("""{"payload":{}}""")]
    [InlineData("""[200]""")]
    [InlineData("""{"status":200,"status":500}""")]
    // A bad string inside the payload: refused here, not left to throw at whoever reads the payload.
    [InlineData("""{"status":200,"payload":{"note":"\uD800"}}""")]
    public void Malformed_or_out_of_range_replies_are_refused(string json)
    {
        Assert.Null(CommandReplyJson.TryParse(Encoding.UTF8.GetBytes(json)));
    }

    [Fact]
    public void Invalid_utf8_inside_the_payload_is_refused()
    {
        byte[] json = [.. """{"status":200,"payload":{"note":" """u8.ToArray()[..^1], 0xFF, .. "\"}}"u8.ToArray()];
        Assert.Null(CommandReplyJson.TryParse(json));
    }
}
