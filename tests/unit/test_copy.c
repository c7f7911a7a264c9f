/* Placeholder: the tests of copy land with it. */
int main(void)
{
	return 0;
}
