using Xunit;

namespace IoTMastery.Sdk.TestSupport;

/// <summary>
/// Asserts that a call fails with an <see cref="IoTException"/> of one <see cref="IoTErrorKind"/>: the SDK has one
/// exception type, so the kind is what a test checks, and the exception is returned for further checks.
/// </summary>
public static class IoTAssert
{
    /// <summary>Awaits <paramref name="action"/> and asserts it throws an <see cref="IoTException"/> of <paramref name="kind"/>.</summary>
    public static async Task<IoTException> ThrowsAsync(IoTErrorKind kind, Func<Task> action)
    {
        var error = await Assert.ThrowsAsync<IoTException>(action);
        return Is(kind, error);
    }

    /// <summary>Runs <paramref name="action"/> and asserts it throws an <see cref="IoTException"/> of <paramref name="kind"/>.</summary>
    public static IoTException Throws(IoTErrorKind kind, Action action) => Is(kind, Assert.Throws<IoTException>(action));

    /// <summary>Asserts <paramref name="exception"/> is an <see cref="IoTException"/> of <paramref name="kind"/> and returns it.</summary>
    public static IoTException Is(IoTErrorKind kind, Exception? exception)
    {
        var error = Assert.IsType<IoTException>(exception);
        // The message is in the failure text: a wrong kind is easier to place with it.
        Assert.True(error.Kind == kind, $"Expected an IoTException of kind {kind}, got {error.Kind}: {error.Message}");
        return error;
    }
}
